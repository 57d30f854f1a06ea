/* test-catalog.c — cost arithmetic from the shipped price table.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-util.h"

static void
test_shipped_prices (void)
{
  SluiceCatalog *catalog = sluice_catalog_get_default ();

  /* gpt-4o-mini: $0.15 in, $0.60 out, $0.075 cached in, per million */
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o-mini", 1000000, 0, 0), 0.15, 1e-12);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o-mini", 1200, 300, 0),
                                  (1200 * 0.15 + 300 * 0.60) / 1e6, 1e-15);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o-mini", 1200, 300, 1000),
                                  (200 * 0.15 + 1000 * 0.075 + 300 * 0.60) / 1e6, 1e-15);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o", 1000, 1000, 0),
                                  (1000 * 2.50 + 1000 * 10.00) / 1e6, 1e-15);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "anthropic", "claude-sonnet-4", 10, 10, 0),
                                  (10 * 3.0 + 10 * 15.0) / 1e6, 1e-15);
}

static void
test_snapshot_names_fall_back (void)
{
  SluiceCatalog *catalog = sluice_catalog_get_default ();

  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o-mini-2024-07-18", 1000, 0, 0),
                                  1000 * 0.15 / 1e6, 1e-15);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "anthropic", "claude-sonnet-4-20250514", 1000, 0, 0),
                                  1000 * 3.0 / 1e6, 1e-15);
}

static void
test_unknown_is_not_zero (void)
{
  SluiceCatalog *catalog = sluice_catalog_get_default ();

  g_assert_cmpfloat (sluice_catalog_compute_cost (catalog, "openai", "no-such-model", 10, 10, 0), <, 0);
  g_assert_cmpfloat (sluice_catalog_compute_cost (catalog, "local", "llama", 10, 10, 0), <, 0);
  g_assert_cmpfloat (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o-mini", -1, 10, 0), <, 0);
  g_assert_null (sluice_catalog_lookup (catalog, "openai", "no-such-model"));
}

static void
test_override_file (void)
{
  g_autofree char *path = sluice_test_write_file ("models.json",
    "{\"providers\": {\"local\": {\"llama\": {\"input_per_mtok\": 1, \"output_per_mtok\": 2}}}}");
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceCatalog) catalog = sluice_catalog_new_from_file (path, &error);

  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "local", "llama", 1000000, 1000000, 0), 3.0, 1e-12);
}

static void
test_durations (void)
{
  gint64 ms = 0;

  g_assert_true (sluice_parse_duration ("250ms", &ms)); g_assert_cmpint (ms, ==, 250);
  g_assert_true (sluice_parse_duration ("1.5s", &ms)); g_assert_cmpint (ms, ==, 1500);
  g_assert_true (sluice_parse_duration ("5m", &ms)); g_assert_cmpint (ms, ==, 300000);
  g_assert_true (sluice_parse_duration ("1d", &ms)); g_assert_cmpint (ms, ==, 86400000);
  g_assert_false (sluice_parse_duration ("5", &ms));
  g_assert_false (sluice_parse_duration ("-5s", &ms));
  g_assert_false (sluice_parse_duration ("5 s", &ms));
  g_assert_false (sluice_parse_duration ("s", &ms));
}

static void
test_retry_after_headers (void)
{
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) later = g_date_time_add_seconds (now, 30);
  g_autofree char *date = soup_date_time_to_string (later, SOUP_DATE_HTTP);
  gint64 ms;

  g_assert_cmpint (sluice_http_parse_retry_after (headers), ==, -1);
  soup_message_headers_replace (headers, "Retry-After", "2");
  g_assert_cmpint (sluice_http_parse_retry_after (headers), ==, 2000);
  soup_message_headers_replace (headers, "retry-after-ms", "250");
  g_assert_cmpint (sluice_http_parse_retry_after (headers), ==, 250);
  soup_message_headers_remove (headers, "retry-after-ms");
  soup_message_headers_replace (headers, "Retry-After", date);
  ms = sluice_http_parse_retry_after (headers);
  g_assert_cmpint (ms, >, 27000);
  g_assert_cmpint (ms, <=, 30000);
  soup_message_headers_replace (headers, "Retry-After", "soon");
  g_assert_cmpint (sluice_http_parse_retry_after (headers), ==, -1);
}

/* What a hostile server may send: strtod's hex, inf and nan are no number
 * of seconds; a far date, like a huge number, is capped at a year (too
 * long to wait either way); a past date is "now". */
static void
test_retry_after_hostile (void)
{
  static const struct { const char *header; const char *value; gint64 ms; } cases[] = {
    { "Retry-After", "0x10", -1 },
    { "Retry-After", "inf", -1 },
    { "Retry-After", "nan", -1 },
    { "Retry-After", "10", 10000 },
    { "Retry-After", "1e9", G_GINT64_CONSTANT (31536000000) },
    { "Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT", G_GINT64_CONSTANT (31536000000) },
    { "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT", 0 },
    { "retry-after-ms", "0x10", -1 },
    { "retry-after-ms", "250", 250 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);

      g_test_message ("%s: %s", cases[i].header, cases[i].value);
      soup_message_headers_replace (headers, cases[i].header, cases[i].value);
      g_assert_cmpint (sluice_http_parse_retry_after (headers), ==, cases[i].ms);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/catalog/shipped-prices", test_shipped_prices);
  g_test_add_func ("/catalog/snapshot-names", test_snapshot_names_fall_back);
  g_test_add_func ("/catalog/unknown-is-not-zero", test_unknown_is_not_zero);
  g_test_add_func ("/catalog/override-file", test_override_file);
  g_test_add_func ("/util/durations", test_durations);
  g_test_add_func ("/util/retry-after", test_retry_after_headers);
  g_test_add_func ("/util/retry-after-hostile", test_retry_after_hostile);
  return g_test_run ();
}
