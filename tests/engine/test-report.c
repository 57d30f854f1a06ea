/* test-report.c — the report's own arithmetic: nearest-rank percentiles
 * and the --since/--until forms. The figures themselves are checked end
 * to end in tests/integration/test-report.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>

#include "sluice-report-private.h"

static void
test_percentile (void)
{
  const gdouble ten[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
  const gdouble one[] = { 42 };
  const gdouble four[] = { 10, 100, 200, 300 };

  /* rank = ceil(p/100 × n) */
  g_assert_cmpfloat (_sluice_report_percentile (ten, 10, 50), ==, 5);
  g_assert_cmpfloat (_sluice_report_percentile (ten, 10, 95), ==, 10);
  g_assert_cmpfloat (_sluice_report_percentile (ten, 10, 90), ==, 9);
  g_assert_cmpfloat (_sluice_report_percentile (ten, 10, 91), ==, 10);
  g_assert_cmpfloat (_sluice_report_percentile (four, 4, 50), ==, 100);
  g_assert_cmpfloat (_sluice_report_percentile (four, 4, 75), ==, 200);
  g_assert_cmpfloat (_sluice_report_percentile (four, 4, 76), ==, 300);
  g_assert_cmpfloat (_sluice_report_percentile (one, 1, 50), ==, 42);
  g_assert_cmpfloat (_sluice_report_percentile (one, 1, 99), ==, 42);
  g_assert_true (isnan (_sluice_report_percentile (NULL, 0, 50)));
}

static void
assert_time (const char *text,
             GDateTime  *now,
             const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDateTime) time = sluice_report_parse_time (text, now, &error);
  g_autofree char *formatted = NULL;

  g_assert_no_error (error);
  formatted = sluice_report_format_time (time);
  g_assert_cmpstr (formatted, ==, expected);
}

static void
test_parse_time (void)
{
  g_autoptr(GDateTime) now = g_date_time_new_utc (2026, 12, 4, 22, 0, 0.25);
  static const char * const bad[] = { "", "7", "7x", "-7d", "yesterday", "2026-13-01", "2026-12-01T25:00:00Z", NULL };

  assert_time ("7d", now, "2026-11-27T22:00:00.250Z");
  assert_time ("24h", now, "2026-12-03T22:00:00.250Z");
  assert_time ("30m", now, "2026-12-04T21:30:00.250Z");
  assert_time ("2026-12-01", now, "2026-12-01T00:00:00.000Z");
  assert_time ("2026-12-01T10:00:00Z", now, "2026-12-01T10:00:00.000Z");
  assert_time ("2026-12-01T10:00:00", now, "2026-12-01T10:00:00.000Z");   /* no zone: UTC */
  assert_time ("2026-12-01T12:00:00+02:00", now, "2026-12-01T10:00:00.000Z");
  for (guint i = 0; bad[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GDateTime) time = sluice_report_parse_time (bad[i], now, &error);

      g_assert_null (time);
      g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
      g_assert_nonnull (strstr (error->message, "is neither a duration"));
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/report/percentile", test_percentile);
  g_test_add_func ("/report/parse-time", test_parse_time);
  return g_test_run ();
}
