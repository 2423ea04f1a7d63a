/* A progress line on a terminal: bytes, rate, ETA, redrawn a few times a second
 * (report.c, with the closing summary). */
#ifndef KXFER_PROGRESS_H
#define KXFER_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	double start, last;
	uint64_t total;   /* 0: unknown */
	uint64_t base;    /* bytes that were there before (resume) */
	bool on;
	bool drawn;
};

void progress_begin(struct progress *p, uint64_t total, uint64_t base, bool quiet);
void progress_update(struct progress *p, uint64_t done);
void progress_end(struct progress *p);

#endif
