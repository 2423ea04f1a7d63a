/* kxfer doctor's network interfaces: MTU, link speed, and whether the NIC can do the TLS
 * record crypto itself (tls-hw-tx-offload / tls-hw-rx-offload, as `ethtool -k` shows them),
 * all through the SIOCETHTOOL ioctl that ethtool(8) uses. */
#include "doctor.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

static int ethtool(int fd, const char *name, void *cmd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = cmd;
	return ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

/* Mb/s, or -1 when the driver does not say (veth, tun, lo, a link that is down). */
static long long link_speed(int fd, const char *name)
{
	/* ethtool_link_settings and its three link-mode bitmaps of at most 127 words each. */
	uint32_t buf[sizeof(struct ethtool_link_settings) / 4 + 3 * 127];
	struct ethtool_link_settings *ls = (struct ethtool_link_settings *)buf;
	struct ethtool_cmd old;
	uint32_t speed = SPEED_UNKNOWN;
	int8_t words;

	/* The handshake: the kernel answers how many words it wants, then fills them. */
	memset(buf, 0, sizeof(buf));
	ls->cmd = ETHTOOL_GLINKSETTINGS;
	if (ethtool(fd, name, ls) == 0 && ls->link_mode_masks_nwords < 0) {
		words = (int8_t)-ls->link_mode_masks_nwords;
		memset(buf, 0, sizeof(buf));
		ls->cmd = ETHTOOL_GLINKSETTINGS;
		ls->link_mode_masks_nwords = words;
		if (ethtool(fd, name, ls) == 0 && ls->link_mode_masks_nwords > 0)
			speed = ls->speed;
	} else {
		memset(&old, 0, sizeof(old));
		old.cmd = ETHTOOL_GSET; /* drivers from before Linux 4.6 */
		if (ethtool(fd, name, &old) == 0)
			speed = ethtool_cmd_speed(&old);
	}
	return speed == (uint32_t)SPEED_UNKNOWN || speed == 0 ? -1 : (long long)speed;
}

/* "on", "off", with " [fixed]" when the driver cannot change it (as ethtool -k prints). */
static void feature_state(const struct ethtool_gfeatures *g, uint32_t i, char *out, size_t cap)
{
	const struct ethtool_get_features_block *b = &g->features[i / 32];
	uint32_t bit = 1U << (i % 32);
	bool fixed = !(b->available & bit) || (b->never_changed & bit);

	snprintf(out, cap, "%s%s", b->active & bit ? "on" : "off", fixed ? " [fixed]" : "");
}

/* The feature-name string set gives each feature's bit; GFEATURES gives the bits. */
static int tls_features(int fd, struct doctor_iface *it)
{
	struct ethtool_sset_info *info = calloc(1, sizeof(*info) + sizeof(uint32_t));
	struct ethtool_gstrings *names = NULL;
	struct ethtool_gfeatures *feat = NULL;
	uint32_t n, blocks;
	int rc = -ENOMEM;

	if (!info)
		return rc;
	info->cmd = ETHTOOL_GSSET_INFO;
	info->sset_mask = 1ULL << ETH_SS_FEATURES;
	rc = ethtool(fd, it->name, info);
	if (rc)
		goto out_info;
	n = info->sset_mask ? info->data[0] : 0;
	blocks = (n + 31) / 32;
	rc = -ENOMEM;
	names = calloc(1, sizeof(*names) + (size_t)n * ETH_GSTRING_LEN);
	if (!names)
		goto out_info;
	feat = calloc(1, sizeof(*feat) + blocks * sizeof(feat->features[0]));
	if (!feat)
		goto out_names;
	names->cmd = ETHTOOL_GSTRINGS;
	names->string_set = ETH_SS_FEATURES;
	names->len = n;
	feat->cmd = ETHTOOL_GFEATURES;
	feat->size = blocks;
	rc = ethtool(fd, it->name, names);
	if (rc == 0)
		rc = ethtool(fd, it->name, feat);
	for (uint32_t i = 0; rc == 0 && i < n && i < feat->size * 32; i++) {
		const char *s = (const char *)names->data + (size_t)i * ETH_GSTRING_LEN;

		if (!strncmp(s, "tls-hw-tx-offload", ETH_GSTRING_LEN))
			feature_state(feat, i, it->tls_tx, sizeof(it->tls_tx));
		else if (!strncmp(s, "tls-hw-rx-offload", ETH_GSTRING_LEN))
			feature_state(feat, i, it->tls_rx, sizeof(it->tls_rx));
	}
	free(feat);
out_names:
	free(names);
out_info:
	free(info);
	return rc;
}

static void probe_iface(struct doctor *d, int fd, const char *name, unsigned flags)
{
	struct doctor_iface *it = &d->f.iface[d->f.niface++];
	struct ifreq ifr;

	memset(it, 0, sizeof(*it));
	snprintf(it->name, sizeof(it->name), "%s", name);
	it->up = flags & IFF_UP;
	it->loopback = flags & IFF_LOOPBACK;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	it->mtu = ioctl(fd, SIOCGIFMTU, &ifr) == 0 ? ifr.ifr_mtu : -1;
	it->speed = link_speed(fd, name);
	snprintf(it->tls_tx, sizeof(it->tls_tx), "unknown");
	snprintf(it->tls_rx, sizeof(it->tls_rx), "unknown");
	tls_features(fd, it);
}

static void judge_iface(struct doctor *d, const struct doctor_iface *it)
{
	char speed[32] = "unknown", fix[160] = "";
	enum doctor_status st = it->loopback ? DOCTOR_INFO : DOCTOR_OK;

	if (it->speed > 0)
		snprintf(speed, sizeof(speed), "%lld Mb/s", it->speed);
	if (!strcmp(it->tls_tx, "off") || !strcmp(it->tls_rx, "off")) {
		/* The NIC could encrypt records itself, and the kernel would use it. */
		st = DOCTOR_INFO;
		snprintf(fix, sizeof(fix), "ethtool -K %s tls-hw-tx-offload on "
			 "tls-hw-rx-offload on", it->name);
	}
	if (!it->up) {
		st = DOCTOR_WARN;
		snprintf(fix, sizeof(fix), "ip link set %s up", it->name);
	}
	doctor_add(d, "network", it->name, st, fix, "%s%s, mtu %d, speed %s, tls-hw-tx-offload %s, "
		   "tls-hw-rx-offload %s", it->loopback ? "loopback (local transfers only), " : "",
		   it->up ? "up" : "down", it->mtu, speed, it->tls_tx, it->tls_rx);
}

static unsigned iface_flags(int fd, const char *name)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	return ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 ? (unsigned)(unsigned short)ifr.ifr_flags : 0;
}

/* Every non-loopback interface that is up (lo when there is none), or only --iface. */
void doctor_net(struct doctor *d)
{
	struct if_nameindex *all = if_nameindex(), *i;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	const char *lo = NULL;
	unsigned more = 0;

	if (fd < 0 || !all) {
		doctor_add(d, "network", "interfaces", DOCTOR_INFO, NULL, "cannot list: %s",
			   strerror(errno));
		goto out;
	}
	for (i = all; i->if_name; i++) {
		unsigned flags = iface_flags(fd, i->if_name);
		bool pick = d->only_iface ? !strcmp(i->if_name, d->only_iface) :
			    (flags & IFF_UP) && !(flags & IFF_LOOPBACK);

		if ((flags & IFF_LOOPBACK) && !lo)
			lo = i->if_name;
		if (pick && d->f.niface == DOCTOR_IFACES)
			more++;
		else if (pick)
			probe_iface(d, fd, i->if_name, flags);
	}
	if (!d->f.niface && !d->only_iface && lo)
		probe_iface(d, fd, lo, iface_flags(fd, lo));
	for (size_t k = 0; k < d->f.niface; k++)
		judge_iface(d, &d->f.iface[k]);
	if (more)
		doctor_add(d, "network", "more", DOCTOR_INFO, NULL, "%u more interfaces that are "
			   "up, not shown (kxfer doctor --iface NAME shows one)", more);
out:
	if (all)
		if_freenameindex(all);
	if (fd >= 0)
		close(fd);
}
