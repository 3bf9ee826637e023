/*
 * askpass — answers the password prompt of sudo, su, doas or ssh on the
 * pty it runs on, once. A second prompt means the password was refused:
 * the watcher reports "authentication failed" at once instead of leaving
 * the connect to hang until its timeout.
 *
 * A prompt is the text since the last answer whose last line is short and
 * ends in ':' (or a full-width '：'), after trailing blanks: that covers
 * "[sudo] password for x:", "Password:", "Passwort:", "Mot de passe :",
 * "パスワード：" and sudo -p prompts of our own. Not for: reading the
 * password file (the daemon does that, on its own machine).
 */
#ifndef MITOFS_ASKPASS_H
#define MITOFS_ASKPASS_H

#include <stddef.h>

struct loop;
struct askpass;

/* err is a positive errno (EACCES), why a one-line reason. */
typedef void askpass_fail_fn(void *arg, int err, const char *why);

/* Watches ptyfd (borrowed, non-blocking) on the loop. The answer
 * (password + "\n") is written to answer_fd: the pty master for programs
 * that read /dev/tty (sudo, doas, ssh), the child's stdin for su, which
 * reads its password there. password may be NULL: a prompt then fails
 * with "a password is needed". The password is copied and wiped on free.
 * NULL with errno on failure. */
struct askpass *askpass_new(struct loop *l, int ptyfd, const char *password, int answer_fd,
			    askpass_fail_fn *fail, void *arg);
/* Stops watching (the pty stays open); NULL does nothing. */
void askpass_free(struct askpass *a);
/* Whether a password was sent (for messages). */
int askpass_answered(const struct askpass *a);
/* The last line the terminal showed (for the reason of a failure). */
void askpass_last_line(const struct askpass *a, char *out, size_t cap);

#endif
