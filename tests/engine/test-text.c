/* test-text.c — scrubbing secrets out of text that may be shown.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <sluice.h>

static void
test_scrub_key (void)
{
  g_autofree char *plain = sluice_text_scrub_secret ("auth failed for sk-live-0123456789abcdef here", "sk-live-0123456789abcdef");
  g_autofree char *half = sluice_text_scrub_secret ("echoed sk-live-01234567 back", "sk-live-0123456789abcdef");

  g_assert_cmpstr (plain, ==, "auth failed for [redacted] here");
  g_assert_cmpstr (half, ==, "echoed [redacted] back");
}

/* A placeholder key ("x", "test") is not a credential: text that happens
 * to hold it is left alone (a snapshot's "max_tokens", a request id). */
static void
test_short_placeholder_left_alone (void)
{
  g_autofree char *x = sluice_text_scrub_secret ("{\"max_tokens\": 200}", "x");
  g_autofree char *review = sluice_text_scrub_secret ("customer reviews", "review");

  g_assert_cmpstr (x, ==, "{\"max_tokens\": 200}");
  g_assert_cmpstr (review, ==, "customer reviews");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/text/scrub-key", test_scrub_key);
  g_test_add_func ("/text/short-placeholder-left-alone", test_short_placeholder_left_alone);
  return g_test_run ();
}
