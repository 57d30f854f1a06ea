/* sluice-call-stage.c — the LLM call: attempts on the targets the fallback
 * policy picks, each under its time limit, with backoff between retries
 * (Retry-After honoured), a retry budget and a deadline over everything,
 * circuit breakers that spare an unhealthy target, hedging of slow
 * attempts, and one attempt record per try.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-call-private.h"

/* Near the deadline, the least time worth starting another attempt with
 * (or the attempt timeout, when that is shorter). */
#define MIN_ATTEMPT_MS       1000
/* A provider that has not returned this long after its attempt was
 * cancelled is given up on: the request must not hang on a plugin. */
#define ABANDON_GRACE_MS     2000

static void stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceCallStage, sluice_call_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, stage_iface_init))

/* ---- per request -------------------------------------------------------------- */

/* One attempt in flight. Reference-counted: the request's list of attempts
 * in flight holds one reference and the provider call another, so that a
 * late answer to an attempt given up on finds it marked finished. */
typedef struct
{
  GTask        *task;            /* borrowed: alive while the attempt is in flight */
  guint         target;
  GCancellable *cancellable;
  GSource      *timer;           /* its time limit, then its grace after cancelling */
  gint64        started_ms;
  char         *started_at;
  gint64        limit_ms;
  gint64        delay_ms;        /* waited before it */
  gboolean      limit_is_deadline;
  gboolean      timed_out;
  gboolean      hedge;           /* started to race a slow attempt */
  gboolean      holds_breaker;   /* admitted by the target's breaker */
  guint64       reservation;     /* of the budget, 0: none */
  gboolean      finished;
} Attempt;

/* The request's state, owned by its GTask: the stage itself is shared by
 * every request of the pipeline. The task holds one reference for the
 * whole flow (dropped by call_finish) and one per provider call in
 * flight; the timer sources hold none and are destroyed before it ends. */
typedef struct
{
  SluiceContext *context;
  SluiceCancelWatch cancel_watch;     /* of the request */
  GPtrArray     *in_flight;            /* of Attempt */
  GSource       *wait_timer;           /* the backoff before the next attempt */
  GSource       *hedge_timer;
  gint           next_target;          /* after the wait */
  gint64         next_delay_ms;
  gint64         started_ms;           /* the deadline counts from here */
  gint64         waited_ms;
  gint64         last_wait_ms;         /* for decorrelated jitter */
  gint64         wasted_tokens;
  guint          n_sent;
  GError        *last_error;           /* of the last failed attempt */
  gboolean       cancelled;
  gboolean       done;
} Call;

typedef struct
{
  GTask   *task;
  Attempt *attempt;
} Send;

static void dispatch (GTask *task, gint target, GError *reason);

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* The budget learns what an attempt cost: @cost_usd < 0 leaves the
 * estimate standing. */
static void
settle_budget (SluiceCallStage *self,
               Attempt         *attempt,
               gdouble          cost_usd)
{
  if (self->budget != NULL && attempt->reservation != 0)
    sluice_budget_settle (self->budget, attempt->reservation, cost_usd);
  attempt->reservation = 0;
}

static gdouble
record_cost (JsonObject *record)
{
  JsonNode *cost = json_object_get_member (record, "cost_usd");

  return cost != NULL && JSON_NODE_HOLDS_VALUE (cost) ? json_node_get_double (cost) : -1;
}

static void
attempt_clear (Attempt *attempt)
{
  clear_source (&attempt->timer);
  g_clear_object (&attempt->cancellable);
  g_free (attempt->started_at);
}

static void
attempt_unref (Attempt *attempt)
{
  g_rc_box_release_full (attempt, (GDestroyNotify) attempt_clear);
}

static void
call_free (Call *call)
{
  sluice_cancel_watch_stop (&call->cancel_watch);
  clear_source (&call->wait_timer);
  clear_source (&call->hedge_timer);
  g_ptr_array_unref (call->in_flight);
  g_clear_object (&call->context);
  g_clear_error (&call->last_error);
  g_free (call);
}

static GSource *
add_timeout (GTask       *task,
             gint64       ms,
             GSourceFunc  func,
             gpointer     data)
{
  GSource *source = g_timeout_source_new ((guint) CLAMP (ms, 0, G_MAXUINT));

  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, g_task_get_context (task));
  return source;
}

static GError *
cancelled_error (void)
{
  return g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CANCELLED, "the request was cancelled");
}

static CallTarget *
target_at (SluiceCallStage *self,
           guint            index)
{
  return g_ptr_array_index (self->targets, index);
}

static gint64
remaining_ms (SluiceCallStage *self,
              Call            *call)
{
  if (self->deadline_ms <= 0)
    return G_MAXINT64;
  return self->deadline_ms - (sluice_monotonic_ms () - call->started_ms);
}

static gboolean
is_unhealthy (SluiceCallStage *self,
              const GError    *error)
{
  return error != NULL && error->domain == SLUICE_ERROR && error->code < 32 &&
         (self->unhealthy_kinds & (1u << error->code)) != 0;
}

/* The breaker hears of every admitted attempt's outcome; one cancelled
 * (a hedging loser, a cancelled request) gives its slot back unheard. */
static void
tell_breaker (SluiceCallStage *self,
              Attempt         *attempt,
              const GError    *error)
{
  SluiceBreaker *breaker = sluice_target_set_get_breaker (self->set, attempt->target);

  if (breaker == NULL || !attempt->holds_breaker)
    return;
  attempt->holds_breaker = FALSE;
  if (error != NULL && error->domain == SLUICE_ERROR && error->code == SLUICE_ERROR_CANCELLED)
    sluice_breaker_release (breaker);
  else
    sluice_breaker_record (breaker, sluice_monotonic_ms (), !is_unhealthy (self, error));
}

/* The attempt is no longer in flight: its timer and cancellable go. */
static void
retire (Call    *call,
        Attempt *attempt)
{
  attempt->finished = TRUE;
  clear_source (&attempt->timer);
  g_ptr_array_remove (call->in_flight, attempt);   /* may drop the last reference */
}

/* Ends the request: error NULL means the answer is in the context. */
static void
call_finish (GTask  *task,
             GError *error)
{
  SluiceCallStage *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);

  call->done = TRUE;
  sluice_cancel_watch_stop (&call->cancel_watch);
  clear_source (&call->wait_timer);
  clear_source (&call->hedge_timer);
  /* Attempts still in flight are given up on (their answers are dropped). */
  while (call->in_flight->len > 0)
    {
      Attempt *attempt = g_ptr_array_index (call->in_flight, 0);

      g_cancellable_cancel (attempt->cancellable);
      settle_budget (self, attempt, -1);   /* cancelled: it may have been billed */
      if (attempt->holds_breaker)
        {
          attempt->holds_breaker = FALSE;
          sluice_breaker_release (sluice_target_set_get_breaker (self->set, attempt->target));
        }
      retire (call, attempt);
    }

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, SLUICE_VERDICT_CONTINUE);
  g_object_unref (task);
}

/* Fails the request with the last attempt's error (or @reason when no
 * attempt was made), saying how many attempts were made and, when a
 * budget or the deadline stopped the retries, which. */
static void
give_up (GTask      *task,
         GError     *reason,
         const char *why_not_retried)
{
  Call *call = g_task_get_task_data (task);
  GError *error = call->last_error != NULL ? g_steal_pointer (&call->last_error) : reason;

  if (error != reason)
    g_clear_error (&reason);
  if (error == NULL)
    error = g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_FAILED, "no target to call");
  if (why_not_retried != NULL)
    {
      g_autofree char *message = g_strdup_printf ("%s (not retried: %s)", error->message, why_not_retried);

      g_free (error->message);
      error->message = g_steal_pointer (&message);
    }
  if (call->n_sent > 1)
    g_prefix_error (&error, "after %u attempts: ", call->n_sent);
  call_finish (task, error);
}

/* ---- backoff and budget ---------------------------------------------------------- */

/* full: uniform in [0, min(cap, base * 2^failed)]; decorrelated: uniform
 * in [base, 3 * the last wait], capped; none: the bound. */
static gint64
backoff_ms (SluiceCallStage *self,
            Call            *call,
            guint            failed)
{
  gint64 bound = self->cap_ms;

  if (self->jitter == JITTER_DECORRELATED)
    {
      gint64 high = MIN (self->cap_ms, MAX (call->last_wait_ms, self->base_ms) * 3);
      gint64 low = MIN (self->base_ms, high);

      return low + (gint64) (g_random_double () * (gdouble) (high - low));
    }
  if (failed < 62 && self->base_ms <= (self->cap_ms >> failed))
    bound = self->base_ms << failed;
  if (self->jitter == JITTER_NONE || bound <= 0)
    return bound;
  return MIN ((gint64) (g_random_double () * (gdouble) (bound + 1)), bound);
}

/* NULL if another attempt after @delay_ms on @target fits the retry
 * budget and the deadline, else why not. */
static char *
budget_refuses (SluiceCallStage *self,
                Call            *call,
                guint            target,
                gint64           delay_ms)
{
  gint64 remaining = remaining_ms (self, call);

  if (call->n_sent >= self->budget_attempts)
    return g_strdup_printf ("the retry budget of %u attempts is spent", self->budget_attempts);
  if (delay_ms > 0 && self->budget_wait_ms > 0 && call->waited_ms + delay_ms > self->budget_wait_ms)
    {
      g_autofree char *budget = sluice_call_format_duration (self->budget_wait_ms);

      return g_strdup_printf ("a %" G_GINT64_FORMAT " ms wait would pass the retry budget's %s of waiting",
                              delay_ms, budget);
    }
  if (self->budget_wasted_tokens >= 0 && call->wasted_tokens > self->budget_wasted_tokens)
    return g_strdup_printf ("%" G_GINT64_FORMAT " tokens already wasted, more than the retry budget's %"
                            G_GINT64_FORMAT, call->wasted_tokens, self->budget_wasted_tokens);
  /* The first attempt always goes: the deadline then cuts it. */
  if (remaining != G_MAXINT64 && call->n_sent > 0 &&
      delay_ms + MIN (target_at (self, target)->timeout_ms, MIN_ATTEMPT_MS) > remaining)
    return g_strdup_printf ("%" G_GINT64_FORMAT " ms left before the deadline", MAX (remaining, 0));
  return NULL;
}

/* ---- attempts --------------------------------------------------------------------- */

static GError *
attempt_error (SluiceCallStage *self,
               Call            *call,
               Attempt         *attempt,
               SluiceResponse  *response,
               const GError    *send_error)
{
  const GError *error = response != NULL ? sluice_response_get_error (response) : send_error;
  CallTarget *target = target_at (self, attempt->target);

  if (response != NULL && error == NULL)
    return NULL;
  if (response == NULL && call->cancelled)
    return cancelled_error ();
  if (response == NULL && attempt->timed_out)
    {
      g_autofree char *limit = sluice_call_format_duration (attempt->limit_is_deadline ? self->deadline_ms
                                                                                         : attempt->limit_ms);

      return g_error_new (SLUICE_ERROR, SLUICE_ERROR_TIMEOUT,
                          attempt->limit_is_deadline ? "no answer before the deadline of %s"
                                                     : "no answer within %s", limit);
    }
  if (error == NULL)
    return g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                        "provider '%s' did not answer within %d ms of being cancelled",
                        target->provider_name, ABANDON_GRACE_MS);
  if (error->domain == SLUICE_ERROR)
    return g_error_copy (error);
  return g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED, "provider '%s' failed: %s",
                      target->provider_name, error->message);
}

static void
add_record (SluiceCallStage *self,
            Call            *call,
            JsonObject      *record)
{
  sluice_context_add_attempt (call->context, record);
  json_object_unref (record);
}

/* A target skipped without touching the network. */
static void
record_skipped (SluiceCallStage *self,
                Call            *call,
                guint            target,
                const GError    *error)
{
  g_autofree char *now = sluice_now_iso8601 ();
  JsonObject *record = sluice_call_attempt_record (target_at (self, target), target, call->context,
                                                   NULL, error, now, 0, 0);

  json_object_set_string_member (record, "outcome", "skipped");
  add_record (self, call, record);
}

/* The loser of a hedge race: cancelled, its prompt most likely billed
 * already, so its cost is estimated from the prompt. */
static void
record_loser (SluiceCallStage *self,
              Call            *call,
              Attempt         *attempt)
{
  g_autoptr(GError) error = g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CANCELLED,
                                                 "lost the hedge race: another attempt answered first");
  g_autoptr(SluiceResponse) billed = sluice_response_new ();
  JsonObject *record;

  sluice_response_set_usage (billed,
                             sluice_count_prompt_tokens (sluice_context_get_messages (call->context),
                                                         target_at (self, attempt->target)->provider_name,
                                                         target_at (self, attempt->target)->model, 0, NULL),
                             0, 0, 0, TRUE);
  record = sluice_call_attempt_record (target_at (self, attempt->target), attempt->target, call->context,
                                      billed, error, attempt->started_at, attempt->delay_ms,
                                      sluice_monotonic_ms () - attempt->started_ms);
  json_object_set_string_member (record, "outcome", "cancelled");
  if (attempt->hedge)
    json_object_set_boolean_member (record, "hedge", TRUE);
  settle_budget (self, attempt, record_cost (record));
  call->wasted_tokens += sluice_call_record_tokens (record);
  add_record (self, call, record);
}

static void start_attempt (GTask *task, guint target, gint64 delay_ms, gboolean hedge, gboolean holds_breaker,
                           guint64 reservation);
static gboolean reserve_budget (SluiceCallStage *self, Call *call, guint target, guint64 *reservation,
                                GError **error);
static GError *too_small (SluiceContext *context, guint target);

/* One target and no policy named: it is tried, then retried. */
static gint
next_target (SluiceCallStage *self,
             Call            *call,
             gint             last,
             const GError    *error)
{
  if (self->policy != NULL)
    return sluice_fallback_policy_next_target (self->policy, call->context, self->set, last, error);
  if (last < 0)
    return 0;
  return error != NULL && (error->code == SLUICE_ERROR_CIRCUIT_OPEN ||
                           error->code == SLUICE_ERROR_CONTEXT_OVERFLOW) ? -1 : last;
}

static gboolean
on_wait_done (gpointer user_data)
{
  GTask *task = user_data;
  Call *call = g_task_get_task_data (task);

  g_clear_pointer (&call->wait_timer, g_source_unref);   /* it removes itself */
  dispatch (task, call->next_target, NULL);
  return G_SOURCE_REMOVE;
}

/* After a failed attempt with nothing else in flight: the policy picks
 * the next target; the same one again is a retry after the backoff. */
static void
decide_next (GTask          *task,
             Attempt        *failed,
             const GError   *error,
             SluiceResponse *response)
{
  SluiceCallStage *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);
  CallTarget *target = target_at (self, failed->target);
  gint64 retry_after = response != NULL ? sluice_response_get_retry_after_ms (response) : -1;
  gint64 delay = 0;
  g_autofree char *refusal = NULL;
  gint next;

  next = next_target (self, call, (gint) failed->target, error);
  /* The deadline has passed: the error says so already. */
  if (next < 0 || remaining_ms (self, call) <= 0)
    {
      give_up (task, NULL, NULL);
      return;
    }
  if ((guint) next == failed->target)
    {
      guint tried = sluice_target_set_count_attempts (self->set, call->context, failed->target);

      if (!sluice_error_code_is_retryable (error->code) || tried >= target->max_attempts)
        {
          give_up (task, NULL, NULL);
          return;
        }
      /* A Retry-After longer than the cap is still honoured: retrying
       * earlier would only be refused again. One longer than
       * max_retry_after (a day, say) is not waited for at all. */
      if (retry_after > self->max_retry_after_ms)
        {
          g_autofree char *limit = sluice_call_format_duration (self->max_retry_after_ms);
          g_autofree char *why = g_strdup_printf ("the provider asks to wait %" G_GINT64_FORMAT
                                                  " ms, more than retry.max_retry_after (%s)", retry_after, limit);

          give_up (task, NULL, why);
          return;
        }
      delay = MAX (backoff_ms (self, call, tried - 1), retry_after);
    }

  refusal = budget_refuses (self, call, (guint) next, delay);
  if (refusal != NULL)
    {
      give_up (task, NULL, refusal);
      return;
    }

  if ((guint) next == failed->target)
    g_debug ("request %s: attempt on %s failed (%s), retrying in %" G_GINT64_FORMAT " ms",
             sluice_context_get_request_id (call->context), target->name, sluice_error_kind (error->code), delay);
  else
    g_debug ("request %s: attempt on %s failed (%s), falling back to %s",
             sluice_context_get_request_id (call->context), target->name, sluice_error_kind (error->code),
             target_at (self, next)->name);
  if (delay == 0)
    {
      dispatch (task, next, NULL);
      return;
    }
  call->next_target = next;
  call->next_delay_ms = delay;
  call->last_wait_ms = delay;
  call->waited_ms += delay;
  call->wait_timer = add_timeout (task, delay, on_wait_done, task);
}

static void
attempt_finished (GTask          *task,
                  Attempt        *attempt,
                  SluiceResponse *response,
                  const GError   *send_error)
{
  SluiceCallStage *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);
  gint64 latency_ms = sluice_monotonic_ms () - attempt->started_ms;
  g_autoptr(GError) error = NULL;
  JsonObject *record;

  /* Held until the end: retiring drops the list's reference. */
  attempt = g_rc_box_acquire (attempt);
  retire (call, attempt);

  error = attempt_error (self, call, attempt, response, send_error);
  record = sluice_call_attempt_record (target_at (self, attempt->target), attempt->target, call->context,
                                      response, error, attempt->started_at, attempt->delay_ms, latency_ms);
  if (attempt->hedge)
    json_object_set_boolean_member (record, "hedge", TRUE);
  if (error != NULL)
    call->wasted_tokens += sluice_call_record_tokens (record);
  settle_budget (self, attempt, record_cost (record));
  add_record (self, call, record);
  tell_breaker (self, attempt, error);

  if (call->cancelled)
    {
      if (call->in_flight->len == 0)
        call_finish (task, cancelled_error ());
    }
  else if (error == NULL)
    {
      sluice_target_set_record_latency (self->set, attempt->target, latency_ms);
      sluice_target_set_add_served (self->set, attempt->target);
      /* The other attempt of a hedge loses. */
      for (guint i = 0; i < call->in_flight->len; i++)
        record_loser (self, call, g_ptr_array_index (call->in_flight, i));
      g_clear_error (&call->last_error);
      sluice_context_set_response (call->context, response);
      call_finish (task, NULL);
    }
  else
    {
      g_clear_error (&call->last_error);
      call->last_error = g_error_copy (error);
      /* With a hedge still racing, its answer is awaited instead. */
      if (call->in_flight->len == 0)
        {
          clear_source (&call->hedge_timer);
          decide_next (task, attempt, error, response);
        }
    }
  attempt_unref (attempt);
}

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Send *send = user_data;
  g_autoptr(GTask) task = send->task;
  Attempt *attempt = send->attempt;
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceResponse) response = sluice_provider_send_finish (SLUICE_PROVIDER (source), result, &error);
  Call *call = g_task_get_task_data (task);

  g_free (send);
  if (!call->done && !attempt->finished)
    attempt_finished (task, attempt, response, error);
  attempt_unref (attempt);
}

static gboolean
on_attempt_abandoned (gpointer user_data)
{
  Attempt *attempt = user_data;
  g_autoptr(GTask) task = g_object_ref (attempt->task);

  g_clear_pointer (&attempt->timer, g_source_unref);   /* it removes itself */
  g_debug ("the provider did not return within %d ms of its cancellation; giving up on the attempt",
           ABANDON_GRACE_MS);
  attempt_finished (task, attempt, NULL, NULL);
  return G_SOURCE_REMOVE;
}

/* Cancels an attempt in flight. The provider normally returns at once,
 * perhaps before g_cancellable_cancel() does; one that does not is given
 * up on after a grace period. */
static void
cancel_attempt (Attempt *attempt)
{
  g_autoptr(GTask) hold = g_object_ref (attempt->task);
  Attempt *held = g_rc_box_acquire (attempt);

  g_cancellable_cancel (held->cancellable);
  if (!held->finished)
    {
      clear_source (&held->timer);
      held->timer = add_timeout (hold, ABANDON_GRACE_MS, on_attempt_abandoned, held);
    }
  attempt_unref (held);
}

static gboolean
on_attempt_timeout (gpointer user_data)
{
  Attempt *attempt = user_data;

  g_clear_pointer (&attempt->timer, g_source_unref);   /* it removes itself */
  attempt->timed_out = TRUE;
  cancel_attempt (attempt);
  return G_SOURCE_REMOVE;
}

/* The attempt in flight has been slow for as long as its target's
 * observed percentile: a second one races it on the next target. */
static gboolean
on_hedge_due (gpointer user_data)
{
  GTask *task = user_data;
  SluiceCallStage *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);
  g_autoptr(GError) slow = NULL;
  Attempt *primary;
  SluiceBreaker *breaker;
  guint64 reservation;
  gint next;

  g_clear_pointer (&call->hedge_timer, g_source_unref);   /* it removes itself */
  if (call->in_flight->len != 1)
    return G_SOURCE_REMOVE;
  primary = g_ptr_array_index (call->in_flight, 0);
  /* Asked as if the slow target were unavailable: the policy names another. */
  slow = g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CIRCUIT_OPEN, "hedging: slower than the hedging delay");
  next = next_target (self, call, (gint) primary->target, slow);
  if (next < 0 || (guint) next == primary->target || call->n_sent >= self->budget_attempts)
    return G_SOURCE_REMOVE;
  {
    g_autoptr(GError) overflow = too_small (call->context, (guint) next);

    if (overflow != NULL)
      return G_SOURCE_REMOVE;   /* too small to race with */
  }
  if (!reserve_budget (self, call, (guint) next, &reservation, NULL))
    return G_SOURCE_REMOVE;   /* a hedge is not worth passing a cap for */
  breaker = sluice_target_set_get_breaker (self->set, next);
  if (breaker != NULL && !sluice_breaker_try_acquire (breaker, sluice_monotonic_ms ()))
    {
      if (reservation != 0)
        sluice_budget_settle (self->budget, reservation, 0);
      return G_SOURCE_REMOVE;
    }
  g_debug ("request %s: hedging %s with %s", sluice_context_get_request_id (call->context),
           target_at (self, primary->target)->name, target_at (self, next)->name);
  start_attempt (task, (guint) next, 0, TRUE, breaker != NULL, reservation);
  return G_SOURCE_REMOVE;
}

static void
maybe_schedule_hedge (GTask   *task,
                      Attempt *attempt)
{
  SluiceCallStage *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);
  gint64 after = self->hedge_after_ms;

  if (!self->hedging || attempt->hedge || !target_at (self, attempt->target)->hedge || call->in_flight->len != 1)
    return;
  if (after <= 0)
    after = sluice_target_set_get_latency_percentile (self->set, attempt->target, self->hedge_percentile,
                                                      self->hedge_min_samples);
  if (after < 0 || after >= attempt->limit_ms)
    return;   /* too few answers to know what slow is, or the timeout comes first */
  clear_source (&call->hedge_timer);
  call->hedge_timer = add_timeout (task, after, on_hedge_due, task);
}

/* A target in prompt mode gets the schema instruction in its system
 * message. The context keeps the messages as the pipeline made them
 * (corrections append to those, a hedge on a native target must not see
 * the instruction), so they are swapped in only while the provider builds
 * its request: SluiceHttpProvider does that within send_async. */
static JsonArray *
swap_in_instruction (SluiceCallStage *self,
                     SluiceContext   *context,
                     CallTarget      *target)
{
  JsonArray *plain = sluice_context_get_messages (context);
  g_autoptr(JsonArray) instructed = NULL;

  /* Nothing to instruct (no messages: the provider says so). */
  if (target->structured != CALL_STRUCTURED_PROMPT || plain == NULL || json_array_get_length (plain) == 0)
    return NULL;
  plain = json_array_ref (plain);
  instructed = sluice_call_structured_messages (plain, self->schema_instruction);
  sluice_context_set_messages (context, instructed);
  return plain;
}

static void
send_instructed (SluiceCallStage *self,
                 SluiceContext   *context,
                 CallTarget      *target,
                 GCancellable    *cancellable,
                 Send            *send)
{
  g_autoptr(JsonArray) plain = swap_in_instruction (self, context, target);

  sluice_provider_send_async (target->provider, context, cancellable, on_sent, send);
  if (plain != NULL)
    sluice_context_set_messages (context, plain);
}

static void
start_attempt (GTask    *task,
               guint     index,
               gint64    delay_ms,
               gboolean  hedge,
               gboolean  holds_breaker,
               guint64   reservation)
{
  SluiceCallStage *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);
  CallTarget *target = target_at (self, index);
  Attempt *attempt = g_rc_box_new0 (Attempt);
  gint64 remaining = remaining_ms (self, call);
  Send *send;

  attempt->task = task;
  attempt->target = index;
  attempt->hedge = hedge;
  attempt->holds_breaker = holds_breaker;
  attempt->reservation = reservation;
  attempt->delay_ms = delay_ms;
  attempt->limit_ms = target->timeout_ms;
  if (remaining < attempt->limit_ms)
    {
      attempt->limit_ms = MAX (remaining, 0);
      attempt->limit_is_deadline = TRUE;
    }
  attempt->cancellable = g_cancellable_new ();
  attempt->timer = add_timeout (task, attempt->limit_ms, on_attempt_timeout, attempt);
  attempt->started_at = sluice_now_iso8601 ();
  attempt->started_ms = sluice_monotonic_ms ();
  g_ptr_array_add (call->in_flight, attempt);
  call->n_sent++;
  sluice_context_set_target (call->context, target->public_target);
  maybe_schedule_hedge (task, attempt);

  send = g_new (Send, 1);
  send->task = g_object_ref (task);
  send->attempt = g_rc_box_acquire (attempt);
  send_instructed (self, call->context, target, attempt->cancellable, send);
}

/* Reserves the attempt's estimated cost; FALSE when a cap would be
 * passed (@error says which). */
static gboolean
reserve_budget (SluiceCallStage  *self,
                Call             *call,
                guint             target,
                guint64          *reservation,
                GError          **error)
{
  g_autoptr(GError) refusal = NULL;
  gdouble estimate;

  *reservation = 0;
  if (self->budget == NULL)
    return TRUE;
  estimate = sluice_budget_estimate (self->budget, call->context, target_at (self, target)->provider_name,
                                     target_at (self, target)->model, target_at (self, target)->public_target);
  *reservation = sluice_budget_reserve (self->budget, call->context, estimate, &refusal);
  if (*reservation != 0)
    return TRUE;
  /* A refused request is an event; a hedge not started (no @error) is not. */
  if (error != NULL && self->pipeline != NULL &&
      g_error_matches (refusal, SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED))
    {
      g_autoptr(JsonObject) detail = json_object_new ();

      json_object_set_string_member (detail, "message", refusal->message);
      if (estimate >= 0)
        json_object_set_double_member (detail, "estimate_usd", estimate);
      sluice_pipeline_emit_event (self->pipeline, "budget_exceeded", target_at (self, target)->name,
                                  call->context, detail);
    }
  g_propagate_error (error, g_steal_pointer (&refusal));
  return FALSE;
}

/* A context_overflow error when the context-check stage found that
 * @target's model cannot hold the prompt (on_overflow: fallback), else
 * NULL: such a target is skipped without a request, as one whose
 * breaker is open. */
static GError *
too_small (SluiceContext *context,
           guint          target)
{
  JsonNode *node = json_object_get_member (sluice_context_get_preflight (context), "overflowing_targets");
  JsonArray *list = node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
    {
      JsonObject *entry = json_array_get_object_element (list, i);

      if (entry != NULL && sluice_json_get_int (entry, "index", -1) == (gint64) target)
        return g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CONTEXT_OVERFLOW,
                                    sluice_json_get_string (entry, "message") ?: "the prompt does not fit");
    }
  return NULL;
}

/* The first available target, in list order, that the context-check
 * stage did not find too small; -1 if none. */
static gint
first_that_fits (SluiceCallStage *self,
                 Call            *call)
{
  for (guint i = 0; i < self->targets->len; i++)
    {
      g_autoptr(GError) overflow = too_small (call->context, i);

      if (overflow == NULL && sluice_target_set_is_available (self->set, i))
        return (gint) i;
    }
  return -1;
}

/* Starts an attempt on @target, or on the next one the policy picks
 * while breakers refuse or the prompt does not fit; gives up when none is left. @reason is the
 * error to fail with if no attempt was ever made. */
static void
dispatch (GTask  *task,
          gint    target,
          GError *reason)
{
  SluiceCallStage *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);
  guint refusals = 0;
  g_autofree char *refusal = NULL;
  GError *refused = NULL;
  guint64 reservation;
  guint64 too_small_seen = 0;   /* targets skipped as too small in this pick */

  while (target >= 0)
    {
      SluiceBreaker *breaker;
      g_autoptr(GError) open = too_small (call->context, (guint) target);

      /* A policy that spreads attempts (weighted, least-latency) may
       * pick a target too small for the prompt again: the first target
       * in list order that can hold it is taken instead. */
      if (open != NULL && target < 64 && (too_small_seen & (G_GUINT64_CONSTANT (1) << target)) != 0)
        {
          g_clear_error (&open);
          target = first_that_fits (self, call);
          if (target < 0)
            {
              g_clear_error (&reason);
              reason = g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CONTEXT_OVERFLOW,
                                            "no available target can hold the prompt");
              break;
            }
        }
      else if (open != NULL && target < 64)
        too_small_seen |= G_GUINT64_CONSTANT (1) << target;
      breaker = sluice_target_set_get_breaker (self->set, (guint) target);
      if (open == NULL)
        {
          if (breaker == NULL || sluice_breaker_try_acquire (breaker, sluice_monotonic_ms ()))
            break;
          open = g_error_new (SLUICE_ERROR, SLUICE_ERROR_CIRCUIT_OPEN,
                              "the circuit breaker of %s is open", sluice_breaker_get_key (breaker));
        }
      record_skipped (self, call, (guint) target, open);
      /* Each target is passed over at most once per pick. */
      if (++refusals > self->targets->len)
        target = -1;
      else
        target = next_target (self, call, target, open);
      if (target < 0 && call->last_error == NULL)
        {
          g_clear_error (&reason);
          reason = g_steal_pointer (&open);
        }
    }
  if (target < 0)
    {
      give_up (task, reason, NULL);
      return;
    }
  g_clear_error (&reason);

  refusal = budget_refuses (self, call, (guint) target, 0);
  if (refusal != NULL)
    {
      SluiceBreaker *breaker = sluice_target_set_get_breaker (self->set, (guint) target);

      if (breaker != NULL)
        sluice_breaker_release (breaker);
      /* Without an attempt of its own (a correction's call after answers
       * that were rejected), what stops it is the retry budget. */
      give_up (task, g_error_new (SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED, "no attempt made: %s", refusal),
               call->last_error != NULL ? refusal : NULL);
      return;
    }
  if (!reserve_budget (self, call, (guint) target, &reservation, &refused))
    {
      SluiceBreaker *breaker = sluice_target_set_get_breaker (self->set, (guint) target);

      if (breaker != NULL)
        sluice_breaker_release (breaker);
      /* The cap, not the last provider error, is why the request ends. */
      g_clear_error (&call->last_error);
      give_up (task, g_steal_pointer (&refused), NULL);
      return;
    }
  start_attempt (task, (guint) target, call->next_delay_ms,
                 FALSE, sluice_target_set_get_breaker (self->set, (guint) target) != NULL, reservation);
  call->next_delay_ms = 0;
}

static gboolean
on_request_cancelled (gpointer user_data)
{
  GTask *task = user_data;
  Call *call = g_task_get_task_data (task);

  if (call->done)
    return G_SOURCE_REMOVE;
  call->cancelled = TRUE;
  if (call->in_flight->len == 0)
    {
      call_finish (task, cancelled_error ());   /* waiting between attempts */
      return G_SOURCE_REMOVE;
    }
  for (guint i = call->in_flight->len; i > 0; i--)
    if (i - 1 < call->in_flight->len)
      cancel_attempt (g_ptr_array_index (call->in_flight, i - 1));
  return G_SOURCE_REMOVE;
}

/* An answer a later stage sent back (parse or validate asking for a
 * correction) was paid for and not kept. Returns the tokens wasted so
 * far; @rejected_target is the target of the last rejected answer, or -1. */
static gint64
mark_rejected_answers (SluiceContext *context,
                       gint          *rejected_target)
{
  JsonArray *attempts = sluice_context_get_attempts (context);
  gint64 wasted = 0;

  *rejected_target = -1;
  for (guint i = 0; i < json_array_get_length (attempts); i++)
    {
      JsonObject *record = json_array_get_object_element (attempts, i);

      if (record == NULL)
        continue;
      if (g_strcmp0 (sluice_json_get_string (record, "outcome"), "ok") == 0)
        {
          json_object_set_boolean_member (record, "wasted", TRUE);
          *rejected_target = (gint) sluice_json_get_int (record, "target_index", -1);
        }
      if (json_object_get_boolean_member_with_default (record, "wasted", FALSE))
        wasted += sluice_call_record_tokens (record);
    }
  return wasted;
}

/* The first target of this call: with on_rejected_answer: fallback, a
 * correction goes to another target than the one whose answer was
 * rejected (asked as if that one were unavailable), if there is one. */
static gint
first_target (SluiceCallStage *self,
              Call            *call,
              gint             rejected_target)
{
  if (self->fallback_on_rejection && rejected_target >= 0 && (guint) rejected_target < self->targets->len)
    {
      g_autoptr(GError) rejected = g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CIRCUIT_OPEN,
                                                        "its answer was rejected");
      gint next = next_target (self, call, rejected_target, rejected);

      if (next >= 0)
        return next;
    }
  return next_target (self, call, -1, NULL);
}

/* A dry run (`sluice snapshot`): the request the first target would be
 * sent, rendered as the output, and nothing sent, waited for or spent. */
static void
render_dry_run (SluiceCallStage *self,
                GTask           *task,
                SluiceContext   *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) request = NULL;
  g_autoptr(JsonObject) rendered = NULL;
  g_autoptr(JsonNode) node = NULL;
  Call *call = g_task_get_task_data (task);
  gint index = next_target (self, call, -1, NULL);
  CallTarget *target = target_at (self, index >= 0 ? (guint) index : 0);

  sluice_context_set_target (context, target->public_target);
  {
    /* rendered as start_attempt() sends it: a prompt-mode instruction included */
    g_autoptr(JsonArray) plain = swap_in_instruction (self, context, target);

    request = sluice_provider_render_request (target->provider, context, &error);
    if (plain != NULL)
      sluice_context_set_messages (context, plain);
  }
  if (request == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      g_object_unref (task);
      return;
    }
  rendered = json_object_new ();
  /* the input goes with it, so that the pipeline scrubs both alike */
  if (sluice_context_get_input (context) != NULL)
    json_object_set_member (rendered, "input", json_node_copy (sluice_context_get_input (context)));
  json_object_set_string_member (rendered, "target", target->name);
  json_object_set_string_member (rendered, "provider", target->provider_name);
  json_object_set_string_member (rendered, "model", target->model);
  json_object_set_object_member (rendered, "request", g_steal_pointer (&request));
  node = json_node_init_object (json_node_alloc (), rendered);
  sluice_context_set_output (context, node);
  g_task_return_int (task, SLUICE_VERDICT_RESPOND);
  g_object_unref (task);
}

static void
sluice_call_stage_process_async (SluiceStage         *stage,
                                 SluiceContext       *context,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  SluiceCallStage *self = SLUICE_CALL_STAGE (stage);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  gint rejected_target;
  Call *call;

  g_task_set_source_tag (task, sluice_call_stage_process_async);
  /* A cancelled request fails with SLUICE_ERROR_CANCELLED, not GIO's. */
  g_task_set_check_cancellable (task, FALSE);

  call = g_new0 (Call, 1);
  call->context = g_object_ref (context);
  call->started_ms = sluice_monotonic_ms ();
  call->in_flight = g_ptr_array_new_with_free_func ((GDestroyNotify) attempt_unref);
  g_task_set_task_data (task, call, (GDestroyNotify) call_free);

  if (self->targets->len == 0)
    {
      call_finish (task, g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                                              "the call stage was used before it was configured"));
      return;
    }
  if (g_cancellable_is_cancelled (cancellable))
    {
      call_finish (task, cancelled_error ());
      return;
    }
  if (sluice_context_get_dry_run (context))
    {
      render_dry_run (self, task, context);
      return;
    }
  sluice_cancel_watch_start (&call->cancel_watch, cancellable, g_task_get_context (task),
                             on_request_cancelled, task);
  call->wasted_tokens = mark_rejected_answers (context, &rejected_target);

  dispatch (task, first_target (self, call, rejected_target),
            g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CIRCUIT_OPEN,
                                 "no target available: the policy picked none"));
}

static gboolean
sluice_call_stage_configure (SluiceStage     *stage,
                             SluicePipeline  *pipeline,
                             JsonObject      *config,
                             GError         **error)
{
  if (!SLUICE_IS_PIPELINE (pipeline))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "the call stage is configured within a pipeline (it needs its engine)");
      return FALSE;
    }
  return sluice_call_stage_read_config (SLUICE_CALL_STAGE (stage), pipeline, config, error);
}

static void
stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_call_stage_configure;
  /* process_finish: the default reads the verdict the task returns. */
  iface->process_async = sluice_call_stage_process_async;
}

static void
sluice_call_stage_finalize (GObject *object)
{
  SluiceCallStage *self = SLUICE_CALL_STAGE (object);

  g_ptr_array_unref (self->targets);
  g_clear_object (&self->set);
  g_clear_object (&self->policy);
  g_clear_object (&self->budget);
  g_free (self->schema_instruction);
  if (self->pipeline != NULL)
    g_object_remove_weak_pointer (G_OBJECT (self->pipeline), (gpointer *) &self->pipeline);

  G_OBJECT_CLASS (sluice_call_stage_parent_class)->finalize (object);
}

static void
sluice_call_stage_class_init (SluiceCallStageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_call_stage_finalize;
}

static void
sluice_call_stage_init (SluiceCallStage *self)
{
  self->targets = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_call_target_free);
}
