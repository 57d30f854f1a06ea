/* test-report-html.c — `sluice report --html`'s page, rendered from the
 * report models in tests/fixtures/report/ (as `sluice report --json`
 * prints them): its figures, the bars and lines of each chart, escaped
 * ledger strings, the en dash for every null, a page for an empty range.
 *
 * With --chromium (the engine-report-html-chromium test) the page is
 * opened in Debian's headless chromium, installed by tools/ensure-chromium
 * when missing (the test skips, exit 77, when it cannot be): the charts
 * must be in the DOM the browser built and the browser must log no
 * console message (a refused resource, a script error). A control page
 * that breaks the page's Content-Security-Policy shows that such a
 * message is seen.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-util.h"
#include "sluice-report-html-private.h"

#include <glib/gstdio.h>
#include <string.h>

#define DASH "\xe2\x80\x93"

static char *chromium;
static char *folder;

static JsonObject *
load_fixture (const char *name)
{
  g_autofree char *path = g_build_filename (g_getenv ("SLUICE_SOURCE_ROOT"), "tests", "fixtures", "report",
                                            name, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autoptr(JsonNode) root = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  root = sluice_json_from_string (text, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return json_object_ref (json_node_get_object (root));
}

static char *
render_fixture (const char *name)
{
  g_autoptr(JsonObject) report = load_fixture (name);
  g_autoptr(GError) error = NULL;
  char *html = sluice_report_render_html (report, &error);

  g_assert_no_error (error);
  g_assert_nonnull (html);
  return html;
}

static guint
count (const char *haystack,
       const char *needle)
{
  guint n = 0;

  for (const char *p = haystack; (p = strstr (p, needle)) != NULL; p += strlen (needle))
    n++;
  return n;
}

/* The text of the element that starts with start, up to its end tag. */
static char *
section (const char *html,
         const char *start,
         const char *end)
{
  const char *from = strstr (html, start);
  const char *to;

  g_assert_nonnull (from);
  to = strstr (from, end);
  g_assert_nonnull (to);
  return g_strndup (from, (gsize) (to - from));
}

static void
test_figures (void)
{
  g_autofree char *html = render_fixture ("report.json");

  sluice_test_assert_contains (html, "Requests</div><div class=\"value\">60</div><div class=\"sub\">4 failed");
  sluice_test_assert_contains (html, "Error rate</div><div class=\"value\">6.7%</div>");
  sluice_test_assert_contains (html, "p95 latency</div><div class=\"value\">200 ms</div>"
                                     "<div class=\"sub\">p50 80 ms \xc2\xb7 p99 400 ms");
  sluice_test_assert_contains (html, "Cost</div><div class=\"value\">$0.0456</div>"
                                     "<div class=\"sub\">$0.0008 per request \xc2\xb7 5 of unknown cost");
  sluice_test_assert_contains (html, "Cache hit rate</div><div class=\"value\">10.0%</div>");
  sluice_test_assert_contains (html, "Compliance rate</div><div class=\"value\">96.4%</div>");
  sluice_test_assert_contains (html, "From 2026-12-02T00:00:00Z to now \xc2\xb7 grouped by model");
  /* null is "no data", never 0 */
  sluice_test_assert_contains (html, "<span>TTFT p99</span><span>" DASH "</span>");
  sluice_test_assert_contains (html, "<span>TTFT p50</span><span>40 ms</span>");
  sluice_test_assert_contains (html, "<span>Breaker trips</span><span>1</span>");
  g_assert_null (strstr (html, "nan"));
  g_assert_null (strstr (html, "inf"));
  /* nothing to fetch */
  g_assert_null (strstr (html, "http://"));
  g_assert_null (strstr (html, "https://"));
  g_assert_null (strstr (html, "<script"));
  sluice_test_assert_contains (html, "content=\"default-src 'none'; style-src 'unsafe-inline'\"");
}

/* Stacked bars: one per (day, model) with a known, non-zero cost, the
 * three days in order, one legend entry per model, most expensive first. */
static void
test_cost_chart (void)
{
  g_autofree char *html = render_fixture ("report.json");
  g_autofree char *cost = section (html, "<section id=\"cost\">", "</section>");
  const char *first, *second, *third;

  g_assert_cmpuint (count (cost, "<rect class=\"bar\""), ==, 5);
  g_assert_cmpuint (count (cost, "<rect class=\"bar\" data-series=\"0\""), ==, 3);
  g_assert_cmpuint (count (cost, "<rect class=\"bar\" data-series=\"1\""), ==, 2);
  g_assert_cmpuint (count (cost, "<li><span class=\"swatch\""), ==, 3);
  sluice_test_assert_contains (cost, "<title>2026-12-02 \xc2\xb7 gpt-4o-mini: $0.0100</title>");
  sluice_test_assert_contains (cost, "<title>2026-12-04 \xc2\xb7 claude-3-haiku: $0.0036</title>");
  sluice_test_assert_contains (cost, "5 requests of unknown cost");
  first = strstr (cost, ">12-02</text>");
  second = strstr (cost, ">12-03</text>");
  third = strstr (cost, ">12-04</text>");
  g_assert_true (first != NULL && second != NULL && third != NULL && first < second && second < third);
  /* the top of the axis is a round number above the largest day ($0.02) */
  sluice_test_assert_contains (cost, ">$0.0200</text>");
  /* the model whose name is markup is text, in the legend */
  sluice_test_assert_contains (cost, "&lt;b&gt;evil &amp; &quot;model&quot;&lt;/b&gt; (no known cost)</li>");
  g_assert_null (strstr (html, "<b>evil"));
}

/* One line per percentile; a day without data breaks the line. */
static void
test_latency_chart (void)
{
  g_autofree char *html = render_fixture ("report.json");
  g_autofree char *latency = section (html, "<section id=\"latency\">", "</section>");
  g_autofree char *p99 = section (latency, "<path class=\"line\" data-series=\"p99\"", "/>");
  g_autofree char *p50 = section (latency, "<path class=\"line\" data-series=\"p50\"", "/>");

  g_assert_cmpuint (count (latency, "<path class=\"line\""), ==, 4);
  g_assert_cmpuint (count (latency, "<circle class=\"point\""), ==, 3 + 3 + 2 + 2);
  g_assert_cmpuint (count (p50, "M"), ==, 1);
  g_assert_cmpuint (count (p50, "L"), ==, 2);
  g_assert_cmpuint (count (p99, "M"), ==, 2);
  g_assert_cmpuint (count (p99, "L"), ==, 0);
  sluice_test_assert_contains (latency, "<title>2026-12-04 \xc2\xb7 p99: 420 ms</title>");
  sluice_test_assert_contains (latency, ">500 ms</text>");   /* the axis top */
}

static void
test_error_and_served_charts (void)
{
  g_autofree char *html = render_fixture ("report.json");
  g_autofree char *errors = section (html, "<section id=\"errors\">", "</section>");
  g_autofree char *served = section (html, "<section id=\"served\">", "</section>");
  const char *a, *b, *c;

  g_assert_cmpuint (count (errors, "<rect class=\"bar\""), ==, 3);
  a = strstr (errors, ">rate_limited</text>");
  b = strstr (errors, ">&lt;script&gt;alert(1)&lt;/script&gt;</text>");
  c = strstr (errors, ">timeout</text>");
  g_assert_true (a != NULL && b != NULL && c != NULL && a < b && b < c);   /* largest first */

  g_assert_cmpuint (count (served, "<rect class=\"bar\""), ==, 2);
  sluice_test_assert_contains (served, ">92.9% \xc2\xb7 52</text>");
  sluice_test_assert_contains (served, ">7.1% \xc2\xb7 4</text>");
  sluice_test_assert_contains (served, "than the first): 7.1%</p>");
}

static void
test_table (void)
{
  g_autofree char *html = render_fixture ("report.json");
  g_autofree char *table = section (html, "<tbody>", "</tbody>");

  g_assert_cmpuint (count (table, "<tr"), ==, 4);
  g_assert_cmpuint (count (table, "<tr class=\"total\"><td>All</td><td>60</td>"), ==, 1);
  sluice_test_assert_contains (table, "<tr><td>gpt-4o-mini</td><td>40</td><td>5.0%</td>");
  /* the group whose cache was never looked up, and whose answers nothing
   * checked: dashes, not zeros */
  sluice_test_assert_contains (table, "<tr><td>&lt;b&gt;evil &amp; &quot;model&quot;&lt;/b&gt;</td><td>5</td>"
                                      "<td>0.0%</td><td>0.0%</td><td>" DASH "</td>");
  sluice_test_assert_contains (table, "<td>$0</td><td>$0</td><td>" DASH "</td><td>" DASH "</td></tr>");
}

/* An empty range: the figures with dashes, a sentence, no chart. */
static void
test_empty (void)
{
  g_autofree char *html = render_fixture ("empty.json");

  sluice_test_assert_contains (html, "<p class=\"empty\">No traffic in this range.</p>");
  sluice_test_assert_contains (html, "Requests</div><div class=\"value\">0</div>");
  sluice_test_assert_contains (html, "Error rate</div><div class=\"value\">" DASH "</div>");
  sluice_test_assert_contains (html, "p95 latency</div><div class=\"value\">" DASH "</div>");
  sluice_test_assert_contains (html, "Cost</div><div class=\"value\">$0</div>");
  g_assert_null (strstr (html, "<svg"));
  g_assert_null (strstr (html, "nan"));
  g_assert_null (strstr (html, "<table"));
}

static void
test_errors (void)
{
  g_autoptr(JsonObject) not_a_report = json_object_new ();
  g_autoptr(JsonObject) report = load_fixture ("report.json");
  g_autoptr(GError) error = NULL;
  g_autofree char *html = sluice_report_render_html (not_a_report, &error);
  g_autofree char *path = g_build_filename (folder, "no-such-folder", "report.html", NULL);
  g_autofree char *good = g_build_filename (folder, "report.html", NULL);
  g_autofree char *written = NULL;
  g_autofree char *expected = NULL;

  g_assert_null (html);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
  g_clear_error (&error);

  g_assert_false (sluice_report_write_html (report, path, &error));
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED);
  sluice_test_assert_contains (error->message, "cannot write the HTML report: ");
  g_clear_error (&error);

  g_assert_true (sluice_report_write_html (report, good, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (good, &written, NULL, NULL));
  expected = sluice_report_render_html (report, NULL);
  g_assert_cmpstr (written, ==, expected);
}

/* ---- in the browser ---------------------------------------------------- */

typedef struct {
  char *dom;
  char *log;
} Page;

static void
page_clear (Page *page)
{
  g_free (page->dom);
  g_free (page->log);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Page, page_clear)

/* One chromium launch: the DOM it built from the file, and what it logged. */
static void
open_in_chromium (const char *html_path,
                  Page       *page)
{
  g_autofree char *profile = g_build_filename (folder, "profile-XXXXXX", NULL);
  g_autofree char *url = g_filename_to_uri (html_path, NULL, NULL);
  g_autofree char *user_data = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (g_mkdtemp (profile));
  user_data = g_strconcat ("--user-data-dir=", profile, NULL);
  /* timeout(1): a browser that hangs fails the test instead of the run. */
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                              "timeout", "60", chromium, "--headless", "--no-sandbox", "--disable-gpu",
                              "--no-first-run", "--disable-extensions", "--disable-background-networking",
                              "--enable-logging=stderr", "--v=0", user_data, "--dump-dom", url, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &page->dom, &page->log, &error);
  g_assert_no_error (error);
  g_test_message ("chromium logged:\n%s", page->log);
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);
}

static gboolean
logged_console_message (const char *log)
{
  /* "[pid:tid:time:INFO:CONSOLE:0] \"message\", source: …" (or CONSOLE(line) in older builds) */
  return strstr (log, ":CONSOLE") != NULL || strstr (log, "Refused to") != NULL ||
         strstr (log, "Uncaught") != NULL;
}

static void
test_chromium_renders_charts (void)
{
  g_autoptr(JsonObject) report = load_fixture ("report.json");
  g_autofree char *path = g_build_filename (folder, "report.html", NULL);
  g_autoptr(GError) error = NULL;
  g_auto(Page) page = { NULL, NULL };

  g_assert_true (sluice_report_write_html (report, path, &error));
  g_assert_no_error (error);
  open_in_chromium (path, &page);

  g_assert_false (logged_console_message (page.log));
  /* the browser built every chart: four SVGs, their bars and lines */
  g_assert_cmpuint (count (page.dom, "<svg class=\"chart\""), ==, 4);
  g_assert_cmpuint (count (page.dom, "<rect class=\"bar\""), ==, 5 + 3 + 2);
  g_assert_cmpuint (count (page.dom, "<path class=\"line\""), ==, 4);
  g_assert_cmpuint (count (page.dom, "<circle class=\"point\""), ==, 10);
  /* escaped user data stayed text: no element was made of it */
  g_assert_null (strstr (page.dom, "<b>evil"));
  g_assert_null (strstr (page.dom, "<script>alert"));
  sluice_test_assert_contains (page.dom, "&lt;script&gt;alert(1)&lt;/script&gt;");
}

/* The check above can fail: a page that tries to fetch an image breaks the
 * report's policy, and chromium logs it. */
static void
test_chromium_console_is_seen (void)
{
  g_autoptr(JsonObject) report = load_fixture ("empty.json");
  g_autofree char *html = sluice_report_render_html (report, NULL);
  g_autofree char *path = g_build_filename (folder, "control.html", NULL);
  g_autoptr(GString) broken = g_string_new (html);
  g_auto(Page) page = { NULL, NULL };

  g_string_replace (broken, "</main>", "<img src=\"http://127.0.0.1:9/x.png\"></main>", 1);
  g_assert_true (g_file_set_contents (path, broken->str, -1, NULL));
  open_in_chromium (path, &page);
  g_assert_true (logged_console_message (page.log));
  sluice_test_assert_contains (page.dom, "No traffic in this range.");
}

/* Installs chromium when missing; exits 77 (skip), saying why, when it
 * cannot be. */
static void
find_chromium (void)
{
  g_autofree char *script = g_build_filename (g_getenv ("SLUICE_SOURCE_ROOT"), "tools", "ensure-chromium", NULL);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                              script, NULL);
  if (process != NULL)
    g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error);
  if (process == NULL || error != NULL || !g_subprocess_get_if_exited (process) ||
      g_subprocess_get_exit_status (process) != 0)
    {
      g_print ("1..0 # SKIP chromium is not installed and could not be: %s\n",
               error != NULL ? error->message : (err != NULL ? err : "?"));
      exit (77);
    }
  chromium = g_strdup (g_strstrip (out));
}

int
main (int   argc,
      char *argv[])
{
  gboolean in_browser = argc > 1 && g_str_equal (argv[argc - 1], "--chromium");
  const char *base = g_getenv ("SLUICE_STATE_DIR");
  int status;

  if (in_browser)
    argv[--argc] = NULL;
  g_test_init (&argc, &argv, NULL);

  /* Under the build tree's test-state folder (tools/run-tests clears it). */
  g_assert_nonnull (base);
  g_assert_cmpint (g_mkdir_with_parents (base, 0700), ==, 0);
  folder = g_build_filename (base, "report-html-XXXXXX", NULL);
  g_assert_nonnull (g_mkdtemp (folder));

  if (in_browser)
    {
      find_chromium ();
      g_test_add_func ("/report-html/chromium/renders-charts", test_chromium_renders_charts);
      g_test_add_func ("/report-html/chromium/console-is-seen", test_chromium_console_is_seen);
    }
  else
    {
      g_test_add_func ("/report-html/figures", test_figures);
      g_test_add_func ("/report-html/cost-chart", test_cost_chart);
      g_test_add_func ("/report-html/latency-chart", test_latency_chart);
      g_test_add_func ("/report-html/error-and-served-charts", test_error_and_served_charts);
      g_test_add_func ("/report-html/table", test_table);
      g_test_add_func ("/report-html/empty", test_empty);
      g_test_add_func ("/report-html/errors", test_errors);
    }
  status = g_test_run ();
  g_free (chromium);
  g_free (folder);
  return status;
}
