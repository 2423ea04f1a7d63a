# Chart of one bench results dir, called by bench/report.py:
#   gnuplot -e "datafile='chart.dat'; outfile='chart.svg'; ttl='...'; note='...'" bench/chart.gp
# chart.dat (tab-separated, one line per server/client pair, header line first):
#   index server client mbps_median mbps_min mbps_max server_cpu_s_per_gib client_cpu_s_per_gib
#   color disturbed (1: other processes used the CPUs during those runs; marked with *)
# Top: throughput (MB/s median, min-max as error bars); bottom: CPU seconds per GiB of the
# server and of the client, side by side.
set terminal svg size 1100,800 dynamic noenhanced font "sans,12" background rgb "white"
set output outfile
set datafile separator "\t"
set key autotitle columnhead
stats datafile using 1 nooutput
n = STATS_records
set xrange [-0.6:n - 0.4]
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
set grid ytics
set xtics nomirror font "sans,10"
set ytics nomirror
set style fill solid 0.85 border rgb "#333333"
set linetype 1 lc rgb "#1f77b4"
set linetype 2 lc rgb "#ff7f0e"
set linetype 3 lc rgb "#2ca02c"
set linetype 4 lc rgb "#d62728"
if (exists("note") && note ne "") ttl = ttl . "\n" . note
set multiplot layout 2,1 title ttl font "sans,13"
set tmargin 4
set bmargin 3.5
label(i) = strcol(2) . "\n" . strcol(3)
set title "Throughput: MB/s = 10^6 bytes/s over the whole client command (median of the runs; bars: min to max)"
set ylabel "MB/s"
set boxwidth 0.6
plot datafile using 1:4:9:xtic(label(0)) with boxes lc variable notitle, \
     '' using 1:4:5:6 with yerrorbars lc rgb "black" pt -1 notitle, \
     '' using 1:6:(sprintf("%.0f%s", $4, $10 > 0 ? " *" : "")) with labels offset 0,0.8 font "sans,10" notitle
set title "CPU seconds per GiB transferred (mean of the runs; user + system)"
set ylabel "CPU-s/GiB"
set boxwidth 0.38
set key inside top left horizontal noautotitle
plot datafile using 1:(NaN):xtic(label(0)) with boxes notitle, \
     '' using ($1 - 0.2):7 with boxes lc rgb "#7f7f7f" title "server", \
     '' using ($1 + 0.2):8 with boxes lc rgb "#bcbd22" title "client", \
     '' using ($1 - 0.2):7:(sprintf("%.2f%s", $7, $10 > 0 ? "*" : "")) with labels offset 0,0.7 font "sans,9" notitle, \
     '' using ($1 + 0.2):8:(sprintf("%.2f%s", $8, $10 > 0 ? "*" : "")) with labels offset 0,0.7 font "sans,9" notitle
unset multiplot
