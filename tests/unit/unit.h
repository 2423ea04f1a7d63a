/* Minimal header-only unit-test harness.  Each check prints one line that tests/run.sh
 * counts ("ok - NAME", "not ok - NAME (file:line)", "skip - NAME: WHY"); main returns
 * unit_done(): 0 when every check passed, 1 otherwise. */
#ifndef KXFER_UNIT_H
#define KXFER_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed, unit_passed;

static inline int unit_check(const char *name, int cond, const char *file, int line)
{
	if (cond) {
		printf("ok - %s\n", name);
		unit_passed++;
	} else {
		printf("not ok - %s (%s:%d)\n", name, file, line);
		unit_failed++;
	}
	fflush(stdout);
	return cond;
}

/* CHECK(name, cond): one check.  CHECK_INT/CHECK_STR also print both values on failure. */
#define CHECK(name, cond) unit_check((name), !!(cond), __FILE__, __LINE__)
#define CHECK_INT(name, got, want)                                                         \
	do {                                                                               \
		long long g_ = (long long)(got), w_ = (long long)(want);                   \
		if (!CHECK(name, g_ == w_))                                                \
			printf("#   got %lld, want %lld\n", g_, w_);                        \
	} while (0)
#define CHECK_STR(name, got, want)                                                         \
	do {                                                                               \
		const char *g_ = (got), *w_ = (want);                                      \
		if (!CHECK(name, g_ && w_ ? !strcmp(g_, w_) : g_ == w_))                   \
			printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)",           \
			       w_ ? w_ : "(null)");                                        \
	} while (0)
#define SKIP(name, why) (printf("skip - %s: %s\n", (name), (why)), fflush(stdout))

static inline int unit_done(void)
{
	printf("# %d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
