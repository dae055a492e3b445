/* memsafectl plot: the memory curve against the cap, as SVG or PNG. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <cairo.h>
#include <cairo-svg.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "artifact.h"
#include "ctl.h"
#include "json.h"
#include "plot.h"

/* Colours people learn from the legend; the cap line's is also how tests
 * find it in an SVG ("stroke:rgb(80%,0%,10%)"). */
#define RGB_CAP 0.80, 0.00, 0.10
#define RGB_HIGH 0.95, 0.55, 0.00
#define RGB_CGROUP 0.12, 0.40, 0.75
#define RGB_RSS 0.20, 0.62, 0.20
#define RGB_OOM 0.55, 0.00, 0.55
#define RGB_ACTION 0.35, 0.35, 0.35
#define RGB_BATCH_A 0.89, 0.93, 1.00
#define RGB_BATCH_B 0.94, 0.96, 1.00
#define RGB_BATCH_BAD 1.00, 0.85, 0.85
#define RGB_GRID 0.88, 0.88, 0.88
#define RGB_TEXT 0.15, 0.15, 0.15
#define RGB_SYS_PSI 0.55, 0.55, 0.55
#define RGB_GPU 0.85, 0.35, 0.65

struct plot {
	cairo_t *cr;
	double w, h;
	double x0, x1, y0, y1;   /* memory plot area (device units) */
	double p0, p1;           /* PSI lane, top and bottom */
	double t_max;            /* seconds at the right edge */
	double mb_max;           /* MiB at the top */
	double psi_max;          /* % at the top of the PSI lane */
};

struct mark {
	double t;                /* seconds since the job started */
	char label[96];          /* event name or pressure action */
	uint64_t page;           /* 0: none */
	int kind;                /* 0 memory event, 1 pressure action */
	double r, g, b;
};

static double px(const struct plot *p, double t) { return p->x0 + (p->x1 - p->x0) * t / p->t_max; }
static double py(const struct plot *p, double mb) { return p->y1 - (p->y1 - p->y0) * mb / p->mb_max; }
static double ppy(const struct plot *p, double psi)
{
	return p->p1 - (p->p1 - p->p0) * MIN(psi, p->psi_max) / p->psi_max;
}

static double nice_step(double range, int target)
{
	double raw = range / target, mag, f;

	if (!(raw > 0))
		return 1;
	mag = pow(10, floor(log10(raw)));
	f = raw / mag;
	return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

/* Text anchored at x by align (0 left, 0.5 centre, 1 right), baseline y. */
static void text(cairo_t *cr, double x, double y, double align, double size, bool bold,
		 const char *s)
{
	cairo_text_extents_t te;

	cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
			       bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, size);
	cairo_text_extents(cr, s, &te);
	cairo_move_to(cr, x - align * te.x_advance, y);
	cairo_show_text(cr, s);
}

static void hline(const struct plot *p, double y, double width, const double *dash, int ndash)
{
	cairo_set_line_width(p->cr, width);
	cairo_set_dash(p->cr, dash, ndash, 0);
	cairo_move_to(p->cr, p->x0, y);
	cairo_line_to(p->cr, p->x1, y);
	cairo_stroke(p->cr);
	cairo_set_dash(p->cr, NULL, 0, 0);
}

/* Seconds since start of an ISO 8601 stamp; NAN when absent. */
static double rel_s(yajl_val obj, const char *key, uint64_t start_ms)
{
	uint64_t ms;

	if (!start_ms || parse_iso8601(ctl_jhas_str(obj, key) ? ctl_jstr(obj, key) : NULL, &ms) < 0)
		return NAN;
	return ((double)ms - (double)start_ms) / 1000.0;
}

static void series(const struct plot *p, const double *t_ms, const double *v, size_t n,
		   bool psi_lane)
{
	bool pen = false;

	for (size_t i = 0; i < n; i++) {
		double x, y;

		if (isnan(v[i]) || isnan(t_ms[i]) || v[i] < 0) {
			pen = false;
			continue;
		}
		x = px(p, t_ms[i] / 1000.0);
		y = psi_lane ? ppy(p, v[i]) : py(p, v[i]);
		if (pen)
			cairo_line_to(p->cr, x, y);
		else
			cairo_move_to(p->cr, x, y);
		pen = true;
	}
	cairo_stroke(p->cr);
}

static void legend_item(cairo_t *cr, double *x, double y, double r, double g, double b,
			bool box, const double *dash, const char *label)
{
	cairo_text_extents_t te;

	cairo_set_source_rgb(cr, r, g, b);
	if (box) {
		cairo_rectangle(cr, *x, y - 9, 18, 10);
		cairo_fill(cr);
		cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
		cairo_set_line_width(cr, 0.5);
		cairo_rectangle(cr, *x, y - 9, 18, 10);
		cairo_stroke(cr);
	} else {
		cairo_set_line_width(cr, 2);
		cairo_set_dash(cr, dash, dash ? 2 : 0, 0);
		cairo_move_to(cr, *x, y - 4);
		cairo_line_to(cr, *x + 18, y - 4);
		cairo_stroke(cr);
		cairo_set_dash(cr, NULL, 0, 0);
	}
	cairo_set_source_rgb(cr, RGB_TEXT);
	text(cr, *x + 22, y, 0, 11, false, label);
	cairo_text_extents(cr, label, &te);
	*x += 22 + te.x_advance + 16;
}

static size_t collect_marks(yajl_val sum, uint64_t start_ms, struct mark *marks, size_t max)
{
	yajl_val ev = json_get(sum, "events"), act = json_get(sum, "pressure_actions");
	size_t n = 0;

	for (size_t i = 0; YAJL_IS_ARRAY(ev) && i < ev->u.array.len && n < max; i++) {
		yajl_val e = ev->u.array.values[i];
		const char *name = ctl_jstr(e, "event");
		struct mark *m = &marks[n];

		m->t = rel_s(e, "at", start_ms);
		if (isnan(m->t))
			continue;
		m->kind = 0;
		m->page = ctl_juint(e, "page");
		snprintf(m->label, sizeof m->label, "%s", name);
		if (!strcmp(name, "high"))
			m->r = 0.95, m->g = 0.55, m->b = 0.0;
		else if (!strcmp(name, "max"))
			m->r = 0.80, m->g = 0.0, m->b = 0.10;
		else
			m->r = 0.55, m->g = 0.0, m->b = 0.55;
		n++;
	}
	for (size_t i = 0; YAJL_IS_ARRAY(act) && i < act->u.array.len && n < max; i++) {
		yajl_val a = act->u.array.values[i];
		struct mark *m = &marks[n];

		m->t = rel_s(a, "at", start_ms);
		if (isnan(m->t))
			continue;
		m->kind = 1;
		m->page = 0;
		snprintf(m->label, sizeof m->label, "PSI: %s", ctl_jstr(a, "action"));
		m->r = 0.35, m->g = 0.35, m->b = 0.35;
		n++;
	}
	return n;
}

/* The job's GPU memory (DRM fdinfo), and what memory_max bounds on an
 * APU: memory.current plus the host-backed GPU memory it does not hold. */
static void gpu_series(const struct plot *p, const struct artifact_memlog *ml,
		       const double *dash)
{
	double *combined = malloc(ml->n * sizeof *combined);

	cairo_set_source_rgb(p->cr, RGB_GPU);
	cairo_set_line_width(p->cr, 1.8);
	series(p, ml->t_ms, ml->gpu_mb, ml->n, false);
	if (!combined)
		return;
	for (size_t i = 0; i < ml->n; i++)
		combined[i] = ml->cgroup_mb[i] + ml->gpu_host_mb[i];   /* NAN stays NAN */
	cairo_set_dash(p->cr, dash, 2, 0);
	series(p, ml->t_ms, combined, ml->n, false);
	cairo_set_dash(p->cr, NULL, 0, 0);
	free(combined);
}

static void draw(struct plot *p, yajl_val sum, yajl_val manifest,
		 const struct artifact_memlog *ml, uint64_t id)
{
	cairo_t *cr = p->cr;
	double cap = ctl_jdouble(sum, "memory_max_mb"), high = ctl_jdouble(sum, "memory_high_mb");
	double peak_cg = ctl_jdouble(sum, "peak_cgroup_mb"), peak_rss = ctl_jdouble(sum, "peak_rss_mb");
	yajl_val batches = json_get(manifest, "batches");
	uint64_t start_ms = 0;
	struct mark marks[256];
	size_t nmarks;
	double step, dash[2] = { 6, 4 }, t_last = 0;
	bool gpu = false;        /* the job held GPU memory: draw it */
	char s[512];

	parse_iso8601(ctl_jhas_str(sum, "started_at") ? ctl_jstr(sum, "started_at") : NULL,
		       &start_ms);
	nmarks = collect_marks(sum, start_ms, marks, ARRAY_SIZE(marks));

	/* Ranges: everything that happened, and the cap with room above. */
	for (size_t i = 0; i < ml->n; i++)
		if (!isnan(ml->t_ms[i]))
			t_last = MAX(t_last, ml->t_ms[i] / 1000.0);
	t_last = MAX(t_last, ctl_jdouble(sum, "duration_s"));
	for (size_t i = 0; i < nmarks; i++)
		t_last = MAX(t_last, marks[i].t);
	for (size_t i = 0; YAJL_IS_ARRAY(batches) && i < batches->u.array.len; i++) {
		double t = rel_s(batches->u.array.values[i], "finished_at", start_ms);
		if (!isnan(t))
			t_last = MAX(t_last, t);
	}
	p->t_max = MAX(t_last * 1.03, 1.0);
	p->mb_max = MAX(MAX(cap, high), MAX(peak_cg, peak_rss));
	for (size_t i = 0; i < ml->n; i++) {
		if (!isnan(ml->rss_mb[i]))
			p->mb_max = MAX(p->mb_max, ml->rss_mb[i]);
		if (!isnan(ml->cgroup_mb[i]))
			p->mb_max = MAX(p->mb_max, ml->cgroup_mb[i]);
		if (!isnan(ml->gpu_mb[i]) && ml->gpu_mb[i] > 0) {
			gpu = true;
			p->mb_max = MAX(p->mb_max, ml->gpu_mb[i]);
		}
		if (!isnan(ml->gpu_host_mb[i]) && !isnan(ml->cgroup_mb[i]))
			p->mb_max = MAX(p->mb_max, ml->cgroup_mb[i] + ml->gpu_host_mb[i]);
	}
	p->mb_max = MAX(p->mb_max * 1.12, 1.0);
	p->psi_max = 10;
	for (size_t i = 0; i < ml->n; i++) {
		if (!isnan(ml->psi_some[i]))
			p->psi_max = MAX(p->psi_max, ml->psi_some[i]);
		if (!isnan(ml->sys_psi_some[i]))
			p->psi_max = MAX(p->psi_max, ml->sys_psi_some[i]);
	}
	p->psi_max = MIN(ceil(p->psi_max / 10) * 10, 100);

	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);

	/* Title: what the job was and how it ended. */
	cairo_set_source_rgb(cr, RGB_TEXT);
	snprintf(s, sizeof s, "memsafed job %" PRIu64 ": %s \xe2\x80\x94 %s (%s)", id,
		 ctl_jstr(json_get(sum, "document"), "name"), ctl_jstr(sum, "status"),
		 ctl_jstr(sum, "end_reason"));
	text(cr, p->x0, 24, 0, 15, true, s);
	{
		int n = snprintf(s, sizeof s, "peak cgroup %.1f MB of memory.max %.0f MB (%.0f%%), "
				 "peak RSS %.1f MB; batches %" PRIu64 " (%" PRIu64 " flushed, %"
				 PRIu64 " failed); OOM kills %" PRIu64,
				 peak_cg, cap, cap > 0 ? 100 * peak_cg / cap : 0, peak_rss,
				 ctl_juint(json_get(sum, "batches"), "total"),
				 ctl_juint(json_get(sum, "batches"), "flushed"),
				 ctl_juint(json_get(sum, "batches"), "failed"),
				 ctl_juint(json_get(sum, "cgroup_events"), "oom_kill"));
		yajl_val cp = json_get(sum, "culprit_page");
		if (cp && YAJL_IS_NUMBER(cp) && n > 0 && (size_t)n < sizeof s)
			snprintf(s + n, sizeof s - (size_t)n, "; culprit page %" PRIu64,
				 ctl_juint(sum, "culprit_page"));
	}
	text(cr, p->x0, 42, 0, 11, false, s);

	/* Batches, shaded where they ran: which work was in flight when
	 * memory rose. */
	cairo_save(cr);
	cairo_rectangle(cr, p->x0, p->y0, p->x1 - p->x0, p->y1 - p->y0);
	cairo_clip(cr);
	for (size_t i = 0; YAJL_IS_ARRAY(batches) && i < batches->u.array.len; i++) {
		yajl_val b = batches->u.array.values[i];
		double t0 = rel_s(b, "started_at", start_ms), t1 = rel_s(b, "finished_at", start_ms);
		bool bad = strcmp(ctl_jstr(b, "status"), "flushed") != 0;
		double xa, xb;

		if (isnan(t0))
			continue;
		if (isnan(t1))
			t1 = t_last;
		xa = px(p, MAX(t0, 0));
		xb = MAX(px(p, t1), xa + 1.5);
		if (bad)
			cairo_set_source_rgb(cr, RGB_BATCH_BAD);
		else if (i % 2)
			cairo_set_source_rgb(cr, RGB_BATCH_B);
		else
			cairo_set_source_rgb(cr, RGB_BATCH_A);
		cairo_rectangle(cr, xa, p->y0, xb - xa, p->y1 - p->y0);
		cairo_fill(cr);
		if (xb - xa >= 22) {
			snprintf(s, sizeof s, "b%" PRIu64, ctl_juint(b, "batch_id"));
			cairo_set_source_rgb(cr, 0.45, 0.50, 0.65);
			text(cr, (xa + xb) / 2, p->y1 - 4, 0.5, 9, false, s);
		}
	}
	cairo_restore(cr);

	/* Grid and axes. */
	step = nice_step(p->mb_max, 6);
	cairo_set_source_rgb(cr, RGB_GRID);
	for (double v = step; v < p->mb_max; v += step)
		hline(p, py(p, v), 0.5, NULL, 0);
	cairo_set_source_rgb(cr, RGB_TEXT);
	for (double v = 0; v < p->mb_max; v += step) {
		snprintf(s, sizeof s, "%g", v);
		text(cr, p->x0 - 6, py(p, v) + 4, 1, 10, false, s);
	}
	step = nice_step(p->t_max, 10);
	for (double t = 0; t <= p->t_max; t += step) {
		cairo_set_source_rgb(cr, RGB_GRID);
		cairo_set_line_width(cr, 0.5);
		cairo_move_to(cr, px(p, t), p->y0);
		cairo_line_to(cr, px(p, t), p->p1);
		cairo_stroke(cr);
		cairo_set_source_rgb(cr, RGB_TEXT);
		snprintf(s, sizeof s, "%g", t);
		text(cr, px(p, t), p->p1 + 14, 0.5, 10, false, s);
	}
	cairo_save(cr);
	cairo_translate(cr, 18, (p->y0 + p->y1) / 2);
	cairo_rotate(cr, -M_PI / 2);
	text(cr, 0, 0, 0.5, 11, true, "memory (MiB)");
	cairo_restore(cr);
	text(cr, (p->x0 + p->x1) / 2, p->p1 + 32, 0.5, 11, true, "time since the job started (s)");

	/* The limits. */
	if (high > 0 && high < cap) {
		cairo_set_source_rgb(cr, RGB_HIGH);
		hline(p, py(p, high), 1.5, dash, 2);
		snprintf(s, sizeof s, "memory.high %.0f MB", high);
		text(cr, p->x1 - 4, py(p, high) + 13, 1, 10, false, s);
	}
	if (cap > 0) {
		cairo_set_source_rgb(cr, RGB_CAP);
		hline(p, py(p, cap), 2, NULL, 0);
		snprintf(s, sizeof s, "memory.max %.0f MB", cap);
		text(cr, p->x1 - 4, py(p, cap) - 5, 1, 10, true, s);
	}

	/* Memory. */
	cairo_save(cr);
	cairo_rectangle(cr, p->x0, p->y0, p->x1 - p->x0, p->y1 - p->y0);
	cairo_clip(cr);
	cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
	cairo_set_source_rgb(cr, RGB_RSS);
	cairo_set_line_width(cr, 1.5);
	series(p, ml->t_ms, ml->rss_mb, ml->n, false);
	cairo_set_source_rgb(cr, RGB_CGROUP);
	cairo_set_line_width(cr, 2.2);
	series(p, ml->t_ms, ml->cgroup_mb, ml->n, false);
	for (size_t i = 0; i < ml->n && ml->n < 400; i++) {
		if (isnan(ml->cgroup_mb[i]) || isnan(ml->t_ms[i]))
			continue;
		cairo_arc(cr, px(p, ml->t_ms[i] / 1000.0), py(p, ml->cgroup_mb[i]), 2, 0, 2 * M_PI);
		cairo_fill(cr);
	}
	if (gpu)
		gpu_series(p, ml, dash);
	cairo_restore(cr);
	if (ml->n == 0) {
		cairo_set_source_rgb(cr, RGB_TEXT);
		text(cr, (p->x0 + p->x1) / 2, (p->y0 + p->y1) / 2, 0.5, 13, false,
		     "no memory samples: the job never ran (see summary.json \"message\")");
	}

	/* Events, where they happened; labels staggered so they stay legible. */
	for (size_t i = 0; i < nmarks; i++) {
		struct mark *m = &marks[i];
		double x = px(p, MAX(m->t, 0));
		bool dup = false;

		for (size_t k = 0; k < i; k++)
			if (marks[k].kind == m->kind && fabs(px(p, MAX(marks[k].t, 0)) - x) < 3)
				dup = true;
		cairo_set_source_rgb(cr, m->r, m->g, m->b);
		cairo_set_line_width(cr, m->kind ? 1 : 1.5);
		cairo_set_dash(cr, dash, m->kind ? 2 : 0, 0);
		cairo_move_to(cr, x, p->y0);
		cairo_line_to(cr, x, p->y1);
		cairo_stroke(cr);
		cairo_set_dash(cr, NULL, 0, 0);
		cairo_move_to(cr, x - 5, p->y0 - 8);
		cairo_line_to(cr, x + 5, p->y0 - 8);
		cairo_line_to(cr, x, p->y0);
		cairo_close_path(cr);
		cairo_fill(cr);
		if (!dup) {
			/* Several events at one instant: one label naming them all,
			 * with the page once when they share it. */
			char all[256] = "";
			size_t len = 0;
			bool same_page = true;
			cairo_text_extents_t te;
			for (size_t k = i; k < nmarks; k++)
				if (marks[k].kind == m->kind &&
				    fabs(px(p, MAX(marks[k].t, 0)) - x) < 3) {
					same_page &= marks[k].page == m->page;
					if (len + 100 < sizeof all)
						len += (size_t)snprintf(all + len, sizeof all - len, "%s%s",
									len ? ", " : "", marks[k].label);
				}
			if (m->page && same_page && len + 24 < sizeof all)
				snprintf(all + len, sizeof all - len, " (page %" PRIu64 ")", m->page);
			cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
					       CAIRO_FONT_WEIGHT_BOLD);
			cairo_set_font_size(cr, 10);
			cairo_text_extents(cr, all, &te);
			/* Right of the line, or left of it near the right edge. */
			if (x + 4 + te.x_advance > p->x1)
				text(cr, x - 4, p->y0 + 12 + (double)(i % 3) * 12, 1, 10, true, all);
			else
				text(cr, x + 4, p->y0 + 12 + (double)(i % 3) * 12, 0, 10, true, all);
		}
	}

	/* PSI lane. */
	cairo_set_source_rgb(cr, 0.97, 0.97, 0.97);
	cairo_rectangle(cr, p->x0, p->p0, p->x1 - p->x0, p->p1 - p->p0);
	cairo_fill(cr);
	cairo_set_line_width(cr, 1.2);
	cairo_set_source_rgb(cr, RGB_SYS_PSI);
	series(p, ml->t_ms, ml->sys_psi_some, ml->n, true);
	cairo_set_source_rgb(cr, RGB_OOM);
	series(p, ml->t_ms, ml->psi_some, ml->n, true);
	cairo_set_source_rgb(cr, RGB_TEXT);
	snprintf(s, sizeof s, "%.0f%%", p->psi_max);
	text(cr, p->x0 - 6, p->p0 + 8, 1, 9, false, s);
	text(cr, p->x0 - 6, p->p1, 1, 9, false, "0");
	text(cr, p->x0 + 4, p->p0 + 11, 0, 9, false,
	     "memory PSI some avg10: job (purple), system (grey)");

	/* Frames. */
	cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
	cairo_set_line_width(cr, 1);
	cairo_rectangle(cr, p->x0, p->y0, p->x1 - p->x0, p->y1 - p->y0);
	cairo_stroke(cr);
	cairo_rectangle(cr, p->x0, p->p0, p->x1 - p->x0, p->p1 - p->p0);
	cairo_stroke(cr);

	/* Legend. */
	{
		double x = p->x0, y = p->h - 10;
		legend_item(cr, &x, y, RGB_CGROUP, false, NULL, "cgroup memory");
		legend_item(cr, &x, y, RGB_RSS, false, NULL, "worker RSS");
		legend_item(cr, &x, y, RGB_CAP, false, NULL, "memory.max");
		legend_item(cr, &x, y, RGB_HIGH, false, dash, "memory.high");
		legend_item(cr, &x, y, RGB_BATCH_A, true, NULL, "batch");
		legend_item(cr, &x, y, RGB_BATCH_BAD, true, NULL, "failed/killed batch");
		legend_item(cr, &x, y, RGB_OOM, false, NULL, "memory event");
		legend_item(cr, &x, y, RGB_ACTION, false, dash, "PSI action");
		if (gpu) {
			legend_item(cr, &x, y, RGB_GPU, false, NULL, "GPU memory");
			legend_item(cr, &x, y, RGB_GPU, false, dash, "cgroup + GTT");
		}
	}
}

/* A <title> and <desc> right after the <svg ...> tag, so that an SVG
 * viewer (and a test) can tell what the picture is. */
static char *svg_annotate(const char *svg, size_t len, const char *title, const char *desc,
			  size_t *ret_len)
{
	const char *tag = strstr(svg, "<svg"), *end = tag ? strchr(tag, '>') : NULL;
	char *out = NULL;
	size_t olen = 0;
	FILE *f;

	if (!end || !(f = open_memstream(&out, &olen)))
		return NULL;
	fwrite(svg, 1, (size_t)(end + 1 - svg), f);
	fputs("\n<title>", f);
	for (const char *s = title; *s; s++)
		*s == '<' ? fputs("&lt;", f) : *s == '&' ? fputs("&amp;", f) :
		*s == '>' ? fputs("&gt;", f) : fputc(*s, f);
	fputs("</title>\n<desc>", f);
	for (const char *s = desc; *s; s++)
		*s == '<' ? fputs("&lt;", f) : *s == '&' ? fputs("&amp;", f) :
		*s == '>' ? fputs("&gt;", f) : fputc(*s, f);
	fputs("</desc>", f);
	fwrite(end + 1, 1, len - (size_t)(end + 1 - svg), f);
	fclose(f);
	*ret_len = olen;
	return out;
}

static cairo_status_t stream_cb(void *closure, const unsigned char *data, unsigned int len)
{
	return fwrite(data, 1, len, closure) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

/* Write data to path atomically (temp file in the same directory). */
static int write_output(const char *path, const void *data, size_t len)
{
	_cleanup_free_ char *copy = strdup(path);
	char *slash;

	if (!copy)
		return -ENOMEM;
	slash = strrchr(copy, '/');
	if (!slash)
		return write_atomic(".", copy, data, len);
	*slash = '\0';
	return write_atomic(slash == copy ? "/" : copy, slash + 1, data, len);
}

int plot_main(int argc, char **argv)
{
	enum { O_WIDTH = 256, O_HEIGHT };
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "width", required_argument, NULL, O_WIDTH },
		{ "height", required_argument, NULL, O_HEIGHT },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *out = NULL, *ext;
	uint64_t width = 1000, height = 600, id;
	_cleanup_free_ char *dir = NULL, *buf = NULL, *svg = NULL;
	_cleanup_json_ yajl_val reply = NULL, sum = NULL, manifest = NULL;
	struct artifact_memlog ml = {0};
	char path[PATH_MAX], err[512], title[512], desc[1024];
	cairo_surface_t *surface;
	struct plot p = {0};
	size_t blen = 0, slen;
	bool is_svg;
	FILE *f;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case O_WIDTH: width = ctl_opt_num("plot", "--width", optarg, false); break;
		case O_HEIGHT: height = ctl_opt_num("plot", "--height", optarg, false); break;
		case 'j': ctl_json = true; break;
		case 'h':
			printf("Usage: memsafectl plot JOB -o FILE.svg|FILE.png [--width PX] [--height PX]\n"
			       "         [--json]\n"
			       "Draw a job's memory over time from its artifacts: cgroup memory and worker\n"
			       "RSS (memory_log.csv) against the memory.max and memory.high lines, memory\n"
			       "events and pressure actions marked where they happened (summary.json),\n"
			       "batches shaded where they ran (ingest_manifest.json), memory PSI below.\n"
			       "JOB is a job id or an artifact directory (such as one repro wrote).\n"
			       "  -o, --output FILE  .svg or .png, by its extension\n"
			       "  --width PX         default 1000 (400 to 8000)\n"
			       "  --height PX        default 600 (300 to 8000)\n"
			       "  --json             {\"id\", \"output\", \"format\", \"width\", \"height\",\n"
			       "                     \"samples\", \"events\", \"batches\"}\n");
			return CTL_EXIT_OK;
		default: ctl_bad_option(argv[0]);
		}
	}
	if (optind != argc - 1)
		ctl_die_usage("plot", "name one JOB");
	if (!out)
		ctl_die_usage("plot", "say where to write the plot: -o FILE.svg or -o FILE.png");
	ext = strrchr(out, '.');
	if (!ext || (strcasecmp(ext, ".svg") && strcasecmp(ext, ".png")))
		ctl_die_usage("plot", "-o %s: the file name must end in .svg or .png", out);
	is_svg = strcasecmp(ext, ".svg") == 0;
	if (width < 400 || width > 8000 || height < 300 || height > 8000)
		ctl_die_usage("plot", "--width takes 400 to 8000 and --height 300 to 8000");

	ctl_job_ref("plot", argv[optind], &dir, &id, &reply);
	snprintf(path, sizeof path, "%s/summary.json", dir);
	if (ctl_load_json(path, &sum, err, sizeof err) < 0) {
		ctl_errorf("plot: %s (a job writes it when it starts)", err);
		return CTL_EXIT_LOCAL;
	}
	if (!id)
		id = ctl_juint(sum, "job");
	if ((r = artifact_memlog_load(dir, &ml, err, sizeof err)) < 0 && r != -ENOENT) {
		ctl_errorf("plot: %s", err);
		return CTL_EXIT_LOCAL;
	}
	snprintf(path, sizeof path, "%s/ingest_manifest.json", dir);
	ctl_load_json(path, &manifest, err, sizeof err);   /* optional */

	p.w = (double)width;
	p.h = (double)height;
	p.x0 = 72;
	p.x1 = p.w - 24;
	p.y0 = 72;
	p.p1 = p.h - 72;
	p.p0 = p.p1 - MIN(60, p.h / 8);
	p.y1 = p.p0 - 16;

	if (!(f = open_memstream(&buf, &blen))) {
		artifact_memlog_free(&ml);
		return CTL_EXIT_LOCAL;
	}
	if (is_svg) {
		surface = cairo_svg_surface_create_for_stream(stream_cb, f, p.w, p.h);
#if CAIRO_VERSION >= CAIRO_VERSION_ENCODE(1, 16, 0)
		cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PX);
#endif
	} else {
		surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)width, (int)height);
	}
	p.cr = cairo_create(surface);
	draw(&p, sum, manifest, &ml, id);
	cairo_destroy(p.cr);
	if (!is_svg)
		cairo_surface_write_to_png_stream(surface, stream_cb, f);
	cairo_surface_finish(surface);
	r = cairo_surface_status(surface);
	cairo_surface_destroy(surface);
	fclose(f);
	if (r != CAIRO_STATUS_SUCCESS || !buf || blen == 0) {
		ctl_errorf("plot: cairo could not draw the plot: %s",
			   cairo_status_to_string((cairo_status_t)r));
		artifact_memlog_free(&ml);
		return CTL_EXIT_LOCAL;
	}
	snprintf(title, sizeof title, "memsafed job %" PRIu64 " (%s): memory over time against "
		 "memory.max", id, ctl_jstr(json_get(sum, "document"), "name"));
	snprintf(desc, sizeof desc, "cgroup memory (blue) and worker RSS (green) from "
		 "memory_log.csv, %zu samples; memory.max %.0f MB (red line), memory.high %.0f MB "
		 "(orange dashed); memory events and pressure actions as vertical marks; batches "
		 "shaded; status %s (%s)", ml.n, ctl_jdouble(sum, "memory_max_mb"),
		 ctl_jdouble(sum, "memory_high_mb"), ctl_jstr(sum, "status"),
		 ctl_jstr(sum, "end_reason"));
	if (is_svg && (svg = svg_annotate(buf, blen, title, desc, &slen))) {
		free(buf);
		buf = steal_pointer(&svg);
		blen = slen;
	}
	if ((r = write_output(out, buf, blen)) < 0) {
		ctl_errorf("plot: cannot write %s: %s", out, strerror(-r));
		artifact_memlog_free(&ml);
		return CTL_EXIT_LOCAL;
	}
	if (ctl_json) {
		_cleanup_json_gen_ yajl_gen g = ctl_gen_new();
		yajl_val ev = json_get(sum, "events"), b = json_get(manifest, "batches");

		yajl_gen_map_open(g);
		json_kuint(g, "id", id);
		json_kstr(g, "output", out);
		json_kstr(g, "format", is_svg ? "svg" : "png");
		json_kuint(g, "width", width);
		json_kuint(g, "height", height);
		json_kuint(g, "samples", ml.n);
		json_kuint(g, "events", YAJL_IS_ARRAY(ev) ? ev->u.array.len : 0);
		json_kuint(g, "batches", YAJL_IS_ARRAY(b) ? b->u.array.len : 0);
		yajl_gen_map_close(g);
		ctl_gen_print(g);
	} else {
		printf("wrote %s: job %" PRIu64 ", %zu samples, %.1f MB peak of %.0f MB\n", out, id,
		       ml.n, ctl_jdouble(sum, "peak_cgroup_mb"), ctl_jdouble(sum, "memory_max_mb"));
	}
	artifact_memlog_free(&ml);
	return CTL_EXIT_OK;
}
