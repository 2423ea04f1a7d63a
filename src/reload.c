/* kxfer serve's credentials -- certificate, key, client CAs and bearer token -- and their
 * reload on SIGHUP.
 *
 * A set is loaded whole or not at all: a certificate that does not parse, a key that does
 * not match it, an unreadable CA file or an empty token file leaves the set in use as it
 * is, and the reason is logged.  Sets are reference counted: the shared pointer holds one
 * reference and every connection another, so a reload never pulls a certificate from under
 * a handshake or a transfer in flight. */
#include "serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service.h"
#include "util.h"

/* The token is the file's content, trimmed: one line, not empty. */
static int read_token(const char *file, struct serve_creds *c, char *err, size_t errlen)
{
	char buf[4096], *t;
	FILE *f = fopen(file, "r");
	size_t n;
	int rc = 0;

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "cannot read a token from %s: %s", file, strerror(-rc));
		return rc;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	t = trim(buf);
	if (!*t || strchr(t, '\n')) {
		snprintf(err, errlen, "cannot read a token from %s: empty or more than one line", file);
		rc = -EINVAL;
		goto out;
	}
	c->token = strdup(t);
	if (!c->token) {
		rc = -ENOMEM;
		goto out;
	}
	c->token_len = strlen(t);
out:
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

static void creds_free(struct serve_creds *c)
{
	tls_ctx_free(c->tls);
	if (c->token) {
		explicit_bzero(c->token, c->token_len);
		free(c->token);
	}
	free(c);
}

int creds_load(const struct serve_config *cfg, struct serve_creds **out, char *err, size_t errlen)
{
	struct serve_creds *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	atomic_init(&c->refs, 1);
	if (cfg->token_file && (rc = read_token(cfg->token_file, c, err, errlen)) < 0)
		goto fail;
	if (!cfg->plain) {
		rc = tls_server_ctx(&cfg->tls, &c->tls, err, errlen);
		if (rc < 0)
			goto fail;
		if (tls_ctx_cert(c->tls, c->pin, &c->not_after) < 0)
			snprintf(c->pin, sizeof(c->pin), "?");
	}
	*out = c;
	return 0;
fail:
	creds_free(c);
	return rc;
}

struct serve_creds *creds_get(struct serve_shared *s)
{
	struct serve_creds *c;

	pthread_mutex_lock(&s->creds_lock);
	c = s->creds;
	atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&s->creds_lock);
	return c;
}

void creds_put(struct serve_creds *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		creds_free(c);
}

static unsigned long long monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
}

int serve_reload(struct serve_shared *s)
{
	struct serve_creds *fresh, *old;
	char err[300], status[300];
	int rc;

	/* The service manager shows "reloading" until READY=1 (systemd.service(5), notify-reload). */
	service_notify("RELOADING=1\nMONOTONIC_USEC=%llu", monotonic_usec());
	rc = creds_load(s->cfg, &fresh, err, sizeof(err));
	if (rc < 0) {
		log_err("reload failed, still using the previous certificate, key, CAs and token: %s",
			rc == -ENOMEM ? "out of memory" : err);
		M_INC(s->metrics.reloads_failed);
		atomic_store(&s->metrics.last_reload_ok, false);
		goto ready;
	}
	pthread_mutex_lock(&s->creds_lock);
	old = s->creds;
	s->creds = fresh;
	pthread_mutex_unlock(&s->creds_lock);
	if (fresh->tls) {
		char until[40];
		struct tm tm;
		time_t t = (time_t)fresh->not_after;

		strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
		log_info("reloaded: certificate sha256:%s%s, valid until %s%s%s", fresh->pin,
			 strcmp(fresh->pin, old->pin) ? "" : " (unchanged)", until,
			 s->cfg->tls.ca_file ? "; client CAs read again" : "",
			 s->cfg->token_file ? "; token read again" : "");
		if (fresh->not_after && fresh->not_after < (int64_t)time(NULL))
			log_err("the reloaded certificate expired already: clients will refuse it");
	} else {
		log_info("reloaded: token file read again");
	}
	creds_put(old); /* freed when its last connection ends */
	atomic_store(&s->metrics.cert_not_after, fresh->not_after);
	M_INC(s->metrics.reloads_ok);
	atomic_store(&s->metrics.last_reload_ok, true);
ready:
	serve_status(s, status, sizeof(status));
	service_notify("READY=1\nSTATUS=%s", status);
	return rc;
}
