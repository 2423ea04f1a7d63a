/* kxfer: argv -> subcommand. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "client.h"
#include "doctor.h"
#include "serve.h"
#include "util.h"

#ifndef KXFER_VERSION
#define KXFER_VERSION "dev"
#endif

const char kxfer_version[] = KXFER_VERSION;

static const char usage[] =
"Usage: kxfer COMMAND [OPTIONS]\n"
"High-throughput file transfer over TLS 1.3 (HTTPS/1.1), with kernel TLS where the host has it.\n"
"\n"
"Commands:\n"
"  serve     serve a directory over HTTPS (GET, HEAD, Range, PUT)\n"
"  get URL   download a file from any HTTPS/1.1 server\n"
"  put FILE URL   upload a file with PUT\n"
"  doctor    what this host supports for fast TLS transfer, and what to tune\n"
"  bench     measure serve -> get on every data path (plaintext, userspace TLS, kTLS)\n"
"\n"
"  kxfer COMMAND --help   options of one command\n"
"  kxfer --version        version\n"
"\n"
"Exit codes of get and put: 0 success, 1 other failure, 2 usage, 3 local file I/O,\n"
"4 network (resolve, connect, reset, timeout), 5 TLS (handshake, certificate, pin),\n"
"6 HTTP status >= 300 (errors, unfollowed redirects), 7 protocol (malformed or truncated response).\n"
"serve exits 0 after SIGINT/SIGTERM, 1 when it cannot start, 2 on bad options.\n"
"Documentation: README.md and docs/ in the source tree; man kxfer.\n";

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	/* OpenSSL writes to sockets with write(2): a peer's reset must be an error, not death. */
	signal(SIGPIPE, SIG_IGN);
	if (!cmd || !strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		fputs(usage, cmd ? stdout : stderr);
		return cmd ? 0 : EXIT_USAGE;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("kxfer %s\n", kxfer_version);
		return 0;
	}
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "get"))
		return cmd_get(argc - 1, argv + 1);
	if (!strcmp(cmd, "put"))
		return cmd_put(argc - 1, argv + 1);
	if (!strcmp(cmd, "doctor"))
		return cmd_doctor(argc - 1, argv + 1);
	if (!strcmp(cmd, "bench"))
		return cmd_bench(argc - 1, argv + 1);
	fprintf(stderr, "kxfer: unknown command '%s'\n\n%s", cmd, usage);
	return EXIT_USAGE;
}
