/* The gzip'd static stubs, one per arch, embedded so one file is all a
 * user installs. STUB_<arch> (the path of build/mitofs-stub*.gz) come
 * from the Makefile. mitofs_stubs is a table the daemon reads (fs/main.c):
 * { const char *arch; const uint8_t *data; size_t len; }..., then zeros. */
	.macro stub name, file
	.section .rodata
	.balign 16
stub_\name:
	.incbin "\file"
stub_\name\()_end:
stub_\name\()_arch:
	.asciz "\name"
	.section .data.rel.ro
	.balign 8
	.quad stub_\name\()_arch, stub_\name, stub_\name\()_end - stub_\name
	.endm

	.section .data.rel.ro
	.balign 8
	.global mitofs_stubs
mitofs_stubs:
#ifdef STUB_x86_64
	stub x86_64, STUB_x86_64
#endif
#ifdef STUB_aarch64
	stub aarch64, STUB_aarch64
#endif
	.section .data.rel.ro
	.quad 0, 0, 0
	.section .note.GNU-stack,"",@progbits
