#!/bin/bash
# Benchmark (make bench): memsafe-worker against pdftotext on the same
# generated PDFs, side by side in one run, several repetitions each,
# alternating the two so that a noisy machine hurts both alike. Prints
# pages/s and peak RSS (/usr/bin/time %M) for both and their ratios, and
# checks that the worker's text matches pdftotext's in >= 99% of
# characters after whitespace is normalised.
#
# Then word fidelity and throughput on real PDFs that no one here wrote
# (see "Real PDFs" below): the share of pdftotext's words the worker's
# text has (recall, target >= 99.5%) and the share of its distinct words
# pdftotext does not have (glued or split words, target <= 0.2%), and
# pages/s against pdftotext (target >= 1.0x on big documents).
#
# The worker runs as the daemon runs it, minus the daemon: sandboxed
# (as root with --user nobody, else in a user namespace), document on
# fd 0, a fresh scratch file on fd 3, default chunking and batching, its
# frames to /dev/null. pdftotext runs as `pdftotext FILE -` to /dev/null.
#
# Environment: MEMSAFE_WORKER MKPDF FRAMECAT TEXTCMP (set by make bench),
# PDFTOTEXT (default pdftotext), BENCH_REPS (default 5), BENCH_PAGES
# (default "1 100 500 1000 2000"), BENCH_USER (default nobody, as root),
# BENCH_WORKER_ENV (NAME=VALUE words for the worker's environment; default
# the environment memsafed gives it, GLIBC_TUNABLES with a bigger malloc
# tcache and LC_ALL=C.UTF-8; "-" for none), BENCH_REAL (0 to leave out
# the real PDFs), BENCH_REAL_REPS (default 3), BENCH_PDF_DIR (where real
# PDFs are unpacked, default ~/.cache/memsafed-bench), BENCH_FETCH (1:
# fetch missing documentation packages with apt-get download, unpacked
# there, not installed), BENCH_PDFS (more PDFs of your own, e.g. office-
# made, space-separated paths).
#
# Peak RSS counts every page the process maps, including the shared
# libraries, which are loaded once for the whole machine. So, when it can
# (as root, with a memory cgroup it may create children in), the script
# also runs each tool once in a fresh memory cgroup and prints the
# cgroup's peak: the memory a job really adds, what memory.max limits.
#
# Exit: 0 when every run succeeded and every text of a generated PDF
# matched (targets that are missed are reported, not failed: this is not
# a timed test), 1 otherwise, 77 when a tool is missing. A real PDF that
# is not there is a "skip" line that says which package has it.
set -u
export LC_ALL=C   # a decimal point in $EPOCHREALTIME and awk
: "${MEMSAFE_WORKER:?run through make bench}" "${MKPDF:?}" "${FRAMECAT:?}" "${TEXTCMP:?}"
PDFTOTEXT=${PDFTOTEXT:-pdftotext}
REPS=${BENCH_REPS:-5}
PAGES=${BENCH_PAGES:-1 100 500 1000 2000}
TIME=/usr/bin/time

command -v "$PDFTOTEXT" >/dev/null || { echo "bench: $PDFTOTEXT not found (poppler-utils)" >&2; exit 77; }
[ -x "$TIME" ] || { echo "bench: $TIME not found (Debian package: time)" >&2; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/memsafe-bench.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
worker_env=(${BENCH_WORKER_ENV:-GLIBC_TUNABLES=glibc.malloc.tcache_count=1000 LC_ALL=C.UTF-8})
[ "${BENCH_WORKER_ENV:-}" = - ] && worker_env=()
user_args=()
[ "$(id -u)" -eq 0 ] && user_args=(--user "${BENCH_USER:-nobody}")
failed=0

# timed CMD...: run CMD under time(1); "peak-RSS-kB wall-s user-s sys-s"
# in $dir/t. The wall clock is bash's, to the microsecond: time's %e counts
# in 10 ms steps, too coarse for a 100-page document.
timed() {
	local t0=$EPOCHREALTIME t1 rc
	"$TIME" -f '%M %U %S' -o "$dir/t" "$@"
	rc=$?
	t1=$EPOCHREALTIME
	awk -v a="$t0" -v b="$t1" '{ printf "%s %.6f %s %s\n", $1, b - a, $2, $3 }' "$dir/t" >"$dir/t.new" &&
		mv "$dir/t.new" "$dir/t"
	return "$rc"
}
# run_worker PDF: one sandboxed extraction, timed. Its environment is
# exported in a subshell, as memsafed passes it to execve: env(1) would
# add an exec to the time measured.
run_worker() {
	rm -f "$dir/scratch"
	( [ ${#worker_env[@]} -eq 0 ] || export "${worker_env[@]}"
	  timed "$MEMSAFE_WORKER" extract "${user_args[@]}" \
		--scratch-fd 3 <"$1" 3<>"$dir/scratch" >/dev/null )
}
run_pdftotext() {
	timed "$PDFTOTEXT" "$1" - >/dev/null
}
# A memory cgroup to run one process in and read the peak of: v1 (hybrid
# hosts) or v2 with the memory controller enabled for children.
cg_base= cg_peak=
if [ "$(id -u)" -eq 0 ]; then
	rel=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
	if [ -n "$rel" ] && [ -e "/sys/fs/cgroup/memory$rel/memory.max_usage_in_bytes" ]; then
		cg_base="/sys/fs/cgroup/memory$rel" cg_peak=memory.max_usage_in_bytes
	else
		rel=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
		d="/sys/fs/cgroup$rel"
		grep -qw memory "$d/cgroup.subtree_control" 2>/dev/null &&
			cg_base=$d cg_peak=memory.peak
	fi
fi
# cg_run CMD...: run CMD alone in a new memory cgroup; print its peak in
# MB, or n/a.
cg_run() {
	local cg="$cg_base/memsafe-bench-$$" peak
	if [ -z "$cg_base" ] || ! mkdir "$cg" 2>/dev/null; then
		"$@" >/dev/null 2>&1
		echo n/a
		return
	fi
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" "$@" >/dev/null 2>&1
	peak=$(cat "$cg/$cg_peak" 2>/dev/null)
	rmdir "$cg" 2>/dev/null
	awk -v p="$peak" 'BEGIN { if (p == "") print "n/a"; else printf "%.1f\n", p / 1048576 }'
}
# median: of the numbers on standard input.
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

docs=()
for n in $PAGES; do
	"$MKPDF" --pages "$n" "$dir/p$n.pdf" >/dev/null || exit 1
	docs+=("p$n:$n")
done
"$MKPDF" --pages 20 --image-pages 5 --image-size 2000 "$dir/img20.pdf" >/dev/null || exit 1
docs+=("img20:20")

echo "memsafe-worker against $("$PDFTOTEXT" -v 2>&1 | head -n 1), $REPS runs each (medians)"
echo "worker: ${BENCH_WORKER_ENV:+$BENCH_WORKER_ENV }$MEMSAFE_WORKER extract ${user_args[*]} --scratch-fd 3"
echo "host: $(nproc) CPUs, $(uname -r), $(awk '/MemTotal/ { printf "%.0f MB", $2 / 1024 }' /proc/meminfo)"
echo
printf '%-8s %6s %9s | %9s %9s %9s %8s %7s | %9s %9s %9s %8s %7s | %6s %6s %6s | %s\n' \
	document pages size_MB w_wall_s w_cpu_s w_pages/s w_rss_MB w_cg_MB p_wall_s p_cpu_s \
	p_pages/s p_rss_MB p_cg_MB thru cpu rss "text match"

for d in "${docs[@]}"; do
	name=${d%%:*} pages=${d#*:} pdf="$dir/${d%%:*}.pdf"
	: >"$dir/w" && : >"$dir/p"
	for _ in $(seq "$REPS"); do
		if run_worker "$pdf"; then cat "$dir/t" >>"$dir/w"; else
			echo "bench: the worker failed on $name" >&2; failed=1; fi
		if run_pdftotext "$pdf"; then cat "$dir/t" >>"$dir/p"; else
			echo "bench: pdftotext failed on $name" >&2; failed=1; fi
	done
	# Text: the worker without chunk overlap, so its chunks join up to
	# the text, against pdftotext's.
	rm -f "$dir/scratch"
	"$MEMSAFE_WORKER" extract "${user_args[@]}" --scratch-fd 3 --chunk-overlap 0 \
		<"$pdf" 3<>"$dir/scratch" | "$FRAMECAT" --text >"$dir/w.txt"
	"$PDFTOTEXT" "$pdf" "$dir/p.txt"
	if cmp=$("$TEXTCMP" --min 99 "$dir/p.txt" "$dir/w.txt"); then match=${cmp##* }; else
		match="${cmp##* } BELOW 99%"; failed=1; fi

	rm -f "$dir/scratch"
	w_cg=$(cg_run sh -c 'f=$1 s=$2; shift 2; exec "$@" <"$f" 3<>"$s"' sh "$pdf" "$dir/scratch" \
		env "${worker_env[@]}" "$MEMSAFE_WORKER" extract "${user_args[@]}" --scratch-fd 3)
	p_cg=$(cg_run "$PDFTOTEXT" "$pdf" -)

	for t in w p; do
		eval "${t}_rss=\$(awk '{ print \$1 / 1024 }' \"\$dir/$t\" | median)"
		eval "${t}_wall=\$(awk '{ print \$2 }' \"\$dir/$t\" | median)"
		eval "${t}_cpu=\$(awk '{ print \$3 + \$4 }' \"\$dir/$t\" | median)"
	done
	awk -v name="$name" -v pages="$pages" -v size="$(stat -c %s "$pdf")" \
	    -v ww="$w_wall" -v wc="$w_cpu" -v wr="$w_rss" -v pw="$p_wall" -v pc="$p_cpu" \
	    -v pr="$p_rss" -v tm="$match" -v wg="$w_cg" -v pg="$p_cg" \
	    'function rate(s) { return s > 0 ? pages / s : 0 }
	BEGIN {
		printf "%-8s %6d %9.1f | %9.4f %9.3f %9.0f %8.1f %7s | %9.4f %9.3f %9.0f %8.1f %7s | %6.2f %6.2f %6.2f | %s\n",
			name, pages, size / 1048576, ww, wc, rate(ww), wr, wg, pw, pc, rate(pw), pr, pg,
			(ww > 0 ? pw / ww : 0), (wc > 0 ? pc / wc : 0), (pr > 0 ? wr / pr : 0), tm
	}' | tee -a "$dir/table"
done

echo
echo "thru = worker pages/s / pdftotext pages/s (wall clock); cpu = the same on"
echo "user+system CPU time; rss = worker peak RSS / pdftotext peak RSS; cg_MB ="
echo "peak of a fresh memory cgroup holding only that run (n/a: none could be made)."
echo
# The issue's targets, judged on the figures above.
awk '
	$1 ~ /^p[0-9]+$/ { n++; pg[n] = $2; wr[n] = $8; wg[n] = $9; pr[n] = $14; prg[n] = $15
		thru[n] = $17; cpu[n] = $18; rss[n] = $19; name[n] = $1 }
	END {
		for (i = 1; i <= n; i++) if (pg[i] >= 100) {
			printf "throughput >= 1.0x pdftotext on %-6s: %s (wall %.2fx, cpu %.2fx)\n",
				name[i], (thru[i] >= 1.0 ? "met" : "MISSED"), thru[i], cpu[i]
			if (pg[i] == 1000)
				printf "worker peak RSS <= 0.3x pdftotext on p1000:  %s (%.2fx: %.1f MB against %.1f MB)\n",
					(rss[i] <= 0.3 ? "met" : "MISSED"), rss[i], wr[i], pr[i]
		}
		if (n >= 2)
			printf "peak RSS growth from %d to %d pages: worker +%.1f MB, pdftotext +%.1f MB (%s)\n",
				pg[1], pg[n], wr[n] - wr[1], pr[n] - pr[1],
				(wr[n] - wr[1] <= 1 ? "flat: met" : "not flat: MISSED")
		if (n >= 2 && wg[1] != "n/a")
			printf "cgroup peak from %d to %d pages: worker %.1f -> %.1f MB, pdftotext %.1f -> %.1f MB\n",
				pg[1], pg[n], wg[1], wg[n], prg[1], prg[n]
	}' "$dir/table"
# ---- Real PDFs ---------------------------------------------------------
# Documentation that Debian packages ship, made by the tools real PDFs
# come from, and one PDF with an OCR layer made here from page images.
# Each is taken from /usr/share/doc when its package is installed, else
# from BENCH_PDF_DIR where BENCH_FETCH=1 unpacks the package (apt-get
# download: about 25 MB for all, nothing installed); a missing one is
# skipped with the package to get it from. name|package|path|made by
real_docs=(
	"gri|gri-pdf-doc|/usr/share/doc/gri/gri.pdf.gz|LaTeX (texinfo, pdfTeX)"
	"amc-latex|auto-multiple-choice-doc-pdf|/usr/share/doc/auto-multiple-choice/latex/automultiplechoice.pdf|LaTeX (pdfTeX)"
	"freefem|freefem-doc|/usr/share/doc/freefem-doc/freefem.pdf|LaTeX (pdfTeX)"
	"camlidl|camlidl-doc|/usr/share/doc/camlidl/camlidl-1.04.doc.pdf|TeX (pdfTeX 0.13, 2001)"
	"gs-color|ghostscript-doc|/usr/share/doc/ghostscript/GS9_Color_Management.pdf|LaTeX (MiKTeX), images"
	"amc-en|auto-multiple-choice-doc-pdf|/usr/share/doc/auto-multiple-choice/auto-multiple-choice.en.pdf|DocBook (dblatex, xdvipdfmx)"
	"amc-ja|auto-multiple-choice-doc-pdf|/usr/share/doc/auto-multiple-choice/auto-multiple-choice.ja.pdf|DocBook, Japanese (dblatex)"
	"dbxsl-ref|docbook-xsl-doc-pdf|/usr/share/doc/docbook-xsl-doc-pdf/doc/reference.pdf.gz|DocBook (dblatex, pdfTeX)"
	"cplusplus|c++-annotations-pdf|/usr/share/doc/c++-annotations/cplusplus.pdf|LaTeX, then Ghostscript"
	"reportlab|python-reportlab-doc|/usr/share/doc/python-reportlab-doc/reportlab-userguide.pdf|ReportLab"
)
pdf_dir=${BENCH_PDF_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/memsafed-bench}
# real_pdf PACKAGE PATH OUT: the document, unpacked to OUT; 1 if absent.
real_pdf() {
	local pkg=$1 path=$2 out=$3 src=
	if [ -f "$path" ]; then src=$path
	elif [ -f "$pdf_dir/$pkg$path" ]; then src=$pdf_dir/$pkg$path
	elif [ "${BENCH_FETCH:-0}" = 1 ] && mkdir -p "$pdf_dir/$pkg" &&
		( cd "$pdf_dir" && apt-get download "$pkg" >/dev/null 2>&1 &&
		  dpkg-deb -x "$pdf_dir/${pkg}"_*.deb "$pdf_dir/$pkg" && rm -f "$pdf_dir/${pkg}"_*.deb ) &&
		[ -f "$pdf_dir/$pkg$path" ]; then src=$pdf_dir/$pkg$path
	else return 1
	fi
	case $src in
	*.gz) zcat "$src" >"$out" ;;
	*) cp "$src" "$out" ;;
	esac
}
# extract_words PDF OUT [OPTIONS]: the worker's chunks, without overlap,
# as text (one chunk a line, a form feed after each page).
extract_words() {
	local pdf=$1 out=$2
	shift 2
	rm -f "$dir/scratch"
	"$MEMSAFE_WORKER" extract "${user_args[@]}" --scratch-fd 3 --chunk-overlap 0 "$@" \
		<"$pdf" 3<>"$dir/scratch" | "$FRAMECAT" --text >"$out"
	[ "${PIPESTATUS[0]}" -eq 0 ]
}
# fidelity EXPECTED GOT: "recall extra_rate" from textcmp --words.
fidelity() {
	"$TEXTCMP" --words "$1" "$2" | awk '{ sub("%", "", $5); sub("%", "", $11); print $5, $11 }'
}

if [ "${BENCH_REAL:-1}" != 0 ]; then
	real_reps=${BENCH_REAL_REPS:-3}
	mkdir -p "$dir/real"
	list=()
	for d in "${real_docs[@]}"; do
		IFS='|' read -r name pkg path made <<<"$d"
		if real_pdf "$pkg" "$path" "$dir/real/$name.pdf"; then
			list+=("$name|$made")
		else
			echo "bench: skip $name ($made): $path not found; apt-get install $pkg, or BENCH_FETCH=1"
		fi
	done
	# A scan with an OCR layer: the first pages of one of them as 200 dpi
	# images, given a text layer by Tesseract (as ocrmypdf does).
	ocr_src=$(ls "$dir/real/camlidl.pdf" "$dir/real/freefem.pdf" 2>/dev/null | head -n 1)
	if ! command -v tesseract >/dev/null || ! command -v pdftoppm >/dev/null; then
		echo "bench: skip ocr (scan with an OCR layer): needs tesseract and pdftoppm (apt-get install tesseract-ocr poppler-utils)"
	elif [ -z "$ocr_src" ]; then
		echo "bench: skip ocr (scan with an OCR layer): made from camlidl or freefem, neither is here"
	elif pdftoppm -r 200 -gray -f 1 -l 4 -png "$ocr_src" "$dir/real/scan" &&
		ls "$dir/real"/scan*.png >"$dir/real/scan.list" &&
		OMP_THREAD_LIMIT=1 tesseract "$dir/real/scan.list" "$dir/real/ocr" pdf >/dev/null 2>&1; then
		list+=("ocr|Tesseract OCR layer on page images")
	else
		echo "bench: the OCR PDF could not be made (pdftoppm, tesseract)" >&2; failed=1
	fi
	"$MKPDF" --layout description --pages 20 "$dir/real/desc.pdf" >/dev/null || exit 1
	list+=("desc|mkpdf --layout description (cairo)")
	for f in ${BENCH_PDFS:-}; do
		n=$(basename "$f" .pdf)
		cp "$f" "$dir/real/user-$n.pdf" && list+=("user-$n|BENCH_PDFS")
	done

	echo
	echo "Real PDFs: word fidelity against pdftotext, and throughput ($real_reps runs each, medians)"
	printf '%-10s %6s %6s | %9s %8s | %9s %8s | %8s %8s %6s %6s | %s\n' document pages size_MB \
		pg_recall pg_extra ch_recall ch_extra w_wall_s p_wall_s thru cpu "made by"
	: >"$dir/real.table"
	for d in "${list[@]}"; do
		name=${d%%|*} made=${d#*|} pdf="$dir/real/${d%%|*}.pdf"
		pages=$(pdfinfo "$pdf" 2>/dev/null | awk '/^Pages:/ { print $2 }')
		"$PDFTOTEXT" "$pdf" "$dir/p.txt" || { echo "bench: pdftotext failed on $name" >&2; failed=1; continue; }
		# The text as the chunks carry it (default size, no overlap) and
		# as the pages give it (one chunk a page): chunks cut text that
		# has no spaces (CJK) inside what textcmp takes for one word.
		if ! extract_words "$pdf" "$dir/w.txt" || ! extract_words "$pdf" "$dir/wp.txt" --chunk-size 1048576; then
			echo "bench: the worker failed on $name" >&2; failed=1; continue
		fi
		read -r pg_recall pg_extra <<<"$(fidelity "$dir/p.txt" "$dir/wp.txt")"
		read -r ch_recall ch_extra <<<"$(fidelity "$dir/p.txt" "$dir/w.txt")"
		: >"$dir/w" && : >"$dir/p"
		for _ in $(seq "$real_reps"); do
			run_worker "$pdf" && cat "$dir/t" >>"$dir/w" || { echo "bench: the worker failed on $name" >&2; failed=1; }
			run_pdftotext "$pdf" && cat "$dir/t" >>"$dir/p" || { echo "bench: pdftotext failed on $name" >&2; failed=1; }
		done
		w_wall=$(awk '{ print $2 }' "$dir/w" | median)
		p_wall=$(awk '{ print $2 }' "$dir/p" | median)
		w_cpu=$(awk '{ print $3 + $4 }' "$dir/w" | median)
		p_cpu=$(awk '{ print $3 + $4 }' "$dir/p" | median)
		awk -v n="$name" -v pg="${pages:-0}" -v sz="$(stat -c %s "$pdf")" -v pr="$pg_recall" \
		    -v pe="$pg_extra" -v cr="$ch_recall" -v ce="$ch_extra" -v ww="$w_wall" -v pw="$p_wall" \
		    -v wc="$w_cpu" -v pc="$p_cpu" -v m="$made" \
		    'BEGIN { printf "%-10s %6d %6.1f | %8.3f%% %7.3f%% | %8.3f%% %7.3f%% | %8.3f %8.3f %6.2f %6.2f | %s\n",
			n, pg, sz / 1048576, pr, pe, cr, ce, ww, pw, (ww > 0 ? pw / ww : 0), (wc > 0 ? pc / wc : 0), m }' |
			tee -a "$dir/real.table"
	done
	echo
	echo "pg_ = the text as the pages give it, ch_ = as the chunks carry it (default"
	echo "chunking, no overlap); recall = share of pdftotext's words (page by page) the"
	echo "worker has; extra = share of the worker's distinct words pdftotext has nowhere"
	echo "(glued or split words); thru = worker pages/s / pdftotext pages/s (wall),"
	echo "cpu = the same on user+system CPU time (steadier on a loaded machine)."
	echo
	awk '
		{ n++; name[n] = $1; pages[n] = $2; pr[n] = $5 + 0; pe[n] = $6 + 0; cr[n] = $8 + 0
		  ce[n] = $9 + 0; thru[n] = $13; cpu[n] = $14 }
		END {
			for (i = 1; i <= n; i++) {
				pm = pr[i] >= 99.5 && pe[i] <= 0.2; cm = cr[i] >= 99.5 && ce[i] <= 0.2
				printf "words >= 99.5%% recall, <= 0.2%% extra on %-10s pages: %s, chunks: %s\n",
					name[i], (pm ? "met" : "MISSED"), (cm ? "met" : "MISSED")
			}
			for (i = 1; i <= n; i++) if (pages[i] >= 1000) {
				big++
				printf "throughput >= 1.0x pdftotext on %-10s (%d pages): %s (wall %.2fx, cpu %.2fx)\n",
					name[i], pages[i], (thru[i] >= 1.0 ? "met" : "MISSED"), thru[i], cpu[i]
			}
			if (!big)
				print "throughput on a big real PDF: none of 1,000 pages or more here (cplusplus is in c++-annotations-pdf)"
		}' "$dir/real.table"
fi
exit "$failed"
