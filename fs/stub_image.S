/* The gzip'd static stub, embedded so one file is all a user installs.
 * STUB_GZ (the path of build/mitofs-stub.gz) comes from the Makefile. */
	.section .rodata
	.global mitofs_stub_gz
	.global mitofs_stub_gz_end
	.balign 16
mitofs_stub_gz:
	.incbin STUB_GZ
mitofs_stub_gz_end:
	.section .note.GNU-stack,"",@progbits
