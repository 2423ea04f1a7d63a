/* A progress line on stderr when it is a terminal (never in logs or pipes). */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "util.h"

void progress_begin(struct progress *p, uint64_t total, uint64_t base, bool quiet)
{
	p->start = p->last = now_sec();
	p->total = total;
	p->base = base;
	p->on = !quiet && isatty(STDERR_FILENO);
	p->drawn = false;
}

void progress_update(struct progress *p, uint64_t done)
{
	double now, rate;
	char have[32], all[32], eta[32] = "";

	if (!p->on)
		return;
	now = now_sec();
	if (now - p->last < 0.25)
		return;
	p->last = now;
	rate = (double)done / (now - p->start);
	if (p->total && rate > 0)
		snprintf(eta, sizeof(eta), "  ETA %.0f s", (double)(p->total - p->base - done) / rate);
	fprintf(stderr, "\r%s / %s  %.1f MB/s%s   ", human_bytes(p->base + done, have, sizeof(have)),
		p->total ? human_bytes(p->total, all, sizeof(all)) : "?", rate / 1e6, eta);
	p->drawn = true;
}

void progress_end(struct progress *p)
{
	if (p->drawn)
		fprintf(stderr, "\r\033[K");
	p->drawn = false;
}
