set terminal png size 900,560
set key outside right
set grid
set output "perf/results/mpps_vs_size.png"
set title "Forwarded Mpps vs frame size (1 core, memif)"
set xlabel "frame size (bytes)"
set ylabel "Mpps"
set logscale x 2
set xtics (64,512,1518)
set yrange [0:*]
plot for [i=2:7] "perf/results/forward.dat" using 1:i with linespoints title columnheader(i) lw 2
unset logscale
set xtics auto
set output "perf/results/ns_vs_sessions.png"
set title "rvs cost per packet vs live sessions (DR, 64 B)"
set xlabel "sessions (flows)"
set ylabel "ns/packet"
set logscale x 10
set yrange [0:*]
plot "perf/results/sessions.dat" using 1:2 with linespoints title "rvs DR" lw 2
