#!/usr/bin/env python3
# perf-categories.py DATA [HZ]: CPU seconds by category from perf cpu-clock samples (HZ: samples per second, times the GiB moved); see bench/perf-breakdown.sh
import subprocess, sys, re, collections
cats = [
 ("AEAD (libcrypto)", lambda d,s: "libcrypto" in d),
 ("memmove/memcpy (libc)", lambda d,s: "libc" in d and ("memmove" in s or "memcpy" in s)),
 ("copy to/from user (kernel)", lambda d,s: re.search(r"copy_(to|from)_iter|copy_page_to_iter|copy_user|rep_movs|copyout|copyin", s)),
 ("page faults, mmap (kernel)", lambda d,s: re.search(r"filemap_map_pages|next_uptodate|unmap_page|handle_mm_fault|do_fault|set_pte|folio|page_remove|zap_|lruvec|tlb|do_user_addr_fault|exc_page_fault|filemap_fault", s)),
 ("page cache read (kernel)", lambda d,s: re.search(r"filemap_read|filemap_get|ext4_file_read|xfs_file_read", s)),
 ("TCP/IP, softirq (kernel)", lambda d,s: re.search(r"tcp_|ip_|skb|__netif|net_rx|softirq|__dev_queue|loopback|sock_|veth|napi|gro_|__alloc_skb|kfree_skb|dst_|nf_", s)),
 ("scheduler, wakeups (kernel)", lambda d,s: re.search(r"schedule|finish_task_switch|_raw_spin|try_to_wake|enqueue|dequeue|update_curr|pick_next|__wake_up|ep_|poll|io_uring|io_", s)),
]
out = subprocess.run(["perf","report","-i",sys.argv[1],"--no-children","--sort","dso,sym","--stdio","-F","sample,dso,sym"],capture_output=True,text=True).stdout
tot=0; acc=collections.OrderedDict((c[0],0) for c in cats); acc["other (kernel)"]=0; acc["other (user)"]=0
for line in out.splitlines():
    if not line.strip() or line.startswith("#"): continue
    m=re.match(r"\s*(\d+)\s+(\S+)\s+\[(.)\]\s+(.*)",line)
    if not m: continue
    n=int(m.group(1)); d=m.group(2); s=m.group(4); tot+=n
    for name,f in cats:
        if f(d,s): acc[name]+=n; break
    else:
        acc["other (kernel)" if m.group(3)=="k" else "other (user)"]+=n
hz=float(sys.argv[2]) if len(sys.argv)>2 else 2000
print("total %.3f CPU-s" % (tot/hz))
for k,v in acc.items(): print("  %-30s %.3f  (%2.0f%%)" % (k, v/hz, 100*v/max(tot,1)))
