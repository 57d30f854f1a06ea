/* test-breaker.c — the circuit breaker's state machine, with the time
 * given by the test, and the target set's latency figures.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <sluice.h>

static SluiceBreaker *
new_breaker (guint   failures,
             gdouble rate,
             guint   min_calls,
             guint   probes)
{
  SluiceBreakerSettings settings = {
    .failures = failures, .failure_rate = rate, .min_calls = min_calls,
    .window_ms = 10000, .reset_ms = 5000, .probes = probes,
  };

  return sluice_breaker_new ("openai:gpt-4o-mini", &settings);
}

static void
count_changes (SluiceBreaker *breaker,
               int            old_state,
               int            new_state,
               GString       *log)
{
  g_string_append_printf (log, "%s>%s ", sluice_breaker_state_to_string (old_state),
                          sluice_breaker_state_to_string (new_state));
}

static void
test_consecutive_failures (void)
{
  g_autoptr(SluiceBreaker) breaker = new_breaker (3, 0, 20, 1);
  g_autoptr(GString) log = g_string_new ("");

  g_signal_connect (breaker, "state-changed", G_CALLBACK (count_changes), log);

  /* Two failures, a success, two failures: never three in a row. */
  for (guint i = 0; i < 5; i++)
    {
      g_assert_true (sluice_breaker_try_acquire (breaker, 100 * i));
      sluice_breaker_record (breaker, 100 * i, i == 2);
    }
  g_assert_cmpint (sluice_breaker_get_state (breaker, 500), ==, SLUICE_BREAKER_CLOSED);

  /* The third in a row opens it, at t = 600. */
  g_assert_true (sluice_breaker_try_acquire (breaker, 600));
  sluice_breaker_record (breaker, 600, FALSE);
  g_assert_cmpint (sluice_breaker_get_state (breaker, 600), ==, SLUICE_BREAKER_OPEN);
  g_assert_cmpuint (sluice_breaker_get_n_opened (breaker), ==, 1);

  /* Open: every call refused until reset (5 s) has passed. */
  for (guint i = 0; i < 4; i++)
    g_assert_false (sluice_breaker_try_acquire (breaker, 601 + 1000 * i));
  g_assert_false (sluice_breaker_is_available (breaker, 5599));
  g_assert_false (sluice_breaker_try_acquire (breaker, 5599));
  g_assert_cmpuint (sluice_breaker_get_n_refused (breaker), ==, 5);

  /* Half-open at exactly 600 + 5000: one probe, the second is refused. */
  g_assert_true (sluice_breaker_is_available (breaker, 5600));
  g_assert_cmpint (sluice_breaker_get_state (breaker, 5600), ==, SLUICE_BREAKER_HALF_OPEN);
  g_assert_true (sluice_breaker_try_acquire (breaker, 5600));
  g_assert_false (sluice_breaker_is_available (breaker, 5601));
  g_assert_false (sluice_breaker_try_acquire (breaker, 5601));

  /* The probe fails: open again, for another reset. */
  sluice_breaker_record (breaker, 5700, FALSE);
  g_assert_cmpint (sluice_breaker_get_state (breaker, 5700), ==, SLUICE_BREAKER_OPEN);
  g_assert_cmpuint (sluice_breaker_get_n_opened (breaker), ==, 2);
  g_assert_false (sluice_breaker_try_acquire (breaker, 10699));

  /* The next probe succeeds: closed, and the count starts afresh. */
  g_assert_true (sluice_breaker_try_acquire (breaker, 10700));
  sluice_breaker_record (breaker, 10750, TRUE);
  g_assert_cmpint (sluice_breaker_get_state (breaker, 10750), ==, SLUICE_BREAKER_CLOSED);
  for (guint i = 0; i < 2; i++)
    {
      g_assert_true (sluice_breaker_try_acquire (breaker, 10800));
      sluice_breaker_record (breaker, 10800, FALSE);
    }
  g_assert_cmpint (sluice_breaker_get_state (breaker, 10800), ==, SLUICE_BREAKER_CLOSED);

  g_assert_cmpstr (log->str, ==,
                   "closed>open open>half-open half-open>open open>half-open half-open>closed ");
}

static void
test_probes_and_release (void)
{
  g_autoptr(SluiceBreaker) breaker = new_breaker (1, 0, 20, 2);

  g_assert_true (sluice_breaker_try_acquire (breaker, 0));
  sluice_breaker_record (breaker, 0, FALSE);
  g_assert_cmpint (sluice_breaker_get_state (breaker, 0), ==, SLUICE_BREAKER_OPEN);

  /* Two probes at once; a third waits. */
  g_assert_true (sluice_breaker_try_acquire (breaker, 5000));
  g_assert_true (sluice_breaker_try_acquire (breaker, 5000));
  g_assert_false (sluice_breaker_try_acquire (breaker, 5000));
  /* A cancelled probe gives its slot back without a verdict. */
  sluice_breaker_release (breaker);
  g_assert_cmpint (sluice_breaker_get_state (breaker, 5001), ==, SLUICE_BREAKER_HALF_OPEN);
  g_assert_true (sluice_breaker_try_acquire (breaker, 5001));
  /* A healthy answer (a 400 counts as healthy too) closes it. */
  sluice_breaker_record (breaker, 5002, TRUE);
  g_assert_cmpint (sluice_breaker_get_state (breaker, 5002), ==, SLUICE_BREAKER_CLOSED);
  g_assert_cmpuint (sluice_breaker_get_n_opened (breaker), ==, 1);
}

static void
test_failure_rate (void)
{
  g_autoptr(SluiceBreaker) breaker = new_breaker (0, 0.5, 10, 1);

  /* 9 calls, 8 failed: fewer than min_calls, stays closed. */
  for (guint i = 0; i < 9; i++)
    {
      g_assert_true (sluice_breaker_try_acquire (breaker, 1000 + i));
      sluice_breaker_record (breaker, 1000 + i, i == 0);
    }
  g_assert_cmpint (sluice_breaker_get_state (breaker, 1010), ==, SLUICE_BREAKER_CLOSED);
  /* The 10th call: 9 failures of 10 ≥ 50%. */
  g_assert_true (sluice_breaker_try_acquire (breaker, 1010));
  sluice_breaker_record (breaker, 1010, FALSE);
  g_assert_cmpint (sluice_breaker_get_state (breaker, 1010), ==, SLUICE_BREAKER_OPEN);

  /* A healthy run below the rate stays closed. */
  {
    g_autoptr(SluiceBreaker) healthy = new_breaker (0, 0.5, 10, 1);

    for (guint i = 0; i < 100; i++)
      {
        g_assert_true (sluice_breaker_try_acquire (healthy, 100 * i));
        sluice_breaker_record (healthy, 100 * i, i % 3 != 0);   /* 34% failures */
      }
    g_assert_cmpint (sluice_breaker_get_state (healthy, 10000), ==, SLUICE_BREAKER_CLOSED);
  }

  /* Failures older than the window are forgotten: 5 failures at t = 0,
   * then 5 successes 20 s later. */
  {
    g_autoptr(SluiceBreaker) forgetful = new_breaker (0, 0.5, 6, 1);

    for (guint i = 0; i < 5; i++)
      {
        g_assert_true (sluice_breaker_try_acquire (forgetful, i));
        sluice_breaker_record (forgetful, i, FALSE);
      }
    for (guint i = 0; i < 6; i++)
      {
        g_assert_true (sluice_breaker_try_acquire (forgetful, 20000 + i));
        sluice_breaker_record (forgetful, 20000 + i, i != 5);
      }
    g_assert_cmpint (sluice_breaker_get_state (forgetful, 20010), ==, SLUICE_BREAKER_CLOSED);
  }
}

static void
test_target_set_latency (void)
{
  g_autoptr(SluiceTargetSet) set = sluice_target_set_new ();
  g_autoptr(JsonObject) target = json_object_new ();
  g_autoptr(SluiceContext) context = sluice_context_new (NULL);
  guint index;

  json_object_set_string_member (target, "provider", "openai");
  json_object_set_string_member (target, "model", "gpt-4o-mini");
  index = sluice_target_set_add (set, target, NULL);
  g_assert_cmpuint (index, ==, 0);
  g_assert_cmpfloat (sluice_target_set_get_latency_ewma (set, 0), ==, -1);
  g_assert_cmpint (sluice_target_set_get_latency_percentile (set, 0, 95, 1), ==, -1);
  g_assert_true (sluice_target_set_is_available (set, 0));

  /* 1..100 ms: p95 by nearest rank is 95, p50 is 50. */
  for (gint64 ms = 1; ms <= 100; ms++)
    sluice_target_set_record_latency (set, 0, ms);
  g_assert_cmpint (sluice_target_set_get_latency_percentile (set, 0, 95, 20), ==, 95);
  g_assert_cmpint (sluice_target_set_get_latency_percentile (set, 0, 50, 20), ==, 50);
  g_assert_cmpint (sluice_target_set_get_latency_percentile (set, 0, 95, 101), ==, -1);
  /* EWMA with alpha 0.2 moves a fifth of the way to each sample. */
  {
    gdouble before = sluice_target_set_get_latency_ewma (set, 0);

    sluice_target_set_record_latency (set, 0, 1000);
    g_assert_cmpfloat_with_epsilon (sluice_target_set_get_latency_ewma (set, 0),
                                    before + 0.2 * (1000 - before), 1e-9);
  }

  /* Failed attempts since the last answer count; skipped ones do not. */
  {
    static const char * const outcomes[] = { "error", "ok", "error", "skipped", "error", "cancelled" };

    for (guint i = 0; i < G_N_ELEMENTS (outcomes); i++)
      {
        JsonObject *record = json_object_new ();

        json_object_set_int_member (record, "target_index", 0);
        json_object_set_string_member (record, "outcome", outcomes[i]);
        sluice_context_add_attempt (context, record);
        json_object_unref (record);
      }
    g_assert_cmpuint (sluice_target_set_count_attempts (set, context, 0), ==, 2);
    g_assert_cmpuint (sluice_target_set_count_attempts (set, context, 1), ==, 0);
  }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/breaker/consecutive-failures", test_consecutive_failures);
  g_test_add_func ("/breaker/probes-and-release", test_probes_and_release);
  g_test_add_func ("/breaker/failure-rate", test_failure_rate);
  g_test_add_func ("/target-set/latency", test_target_set_latency);
  return g_test_run ();
}
