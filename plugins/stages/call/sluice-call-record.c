/* sluice-call-record.c — the record of one attempt: what the ledger, the
 * reports and the policies read.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-call-private.h"

char *
sluice_call_format_duration (gint64 ms)
{
  char seconds[G_ASCII_DTOSTR_BUF_SIZE];

  if (ms < 1000)
    return g_strdup_printf ("%" G_GINT64_FORMAT "ms", ms);
  if (ms % 3600000 == 0)
    return g_strdup_printf ("%" G_GINT64_FORMAT "h", ms / 3600000);
  if (ms % 60000 == 0)
    return g_strdup_printf ("%" G_GINT64_FORMAT "m", ms / 60000);
  g_ascii_formatd (seconds, sizeof seconds, "%g", (gdouble) ms / 1000);
  return g_strdup_printf ("%ss", seconds);
}

/* Usage details and stream timing. */
static void
add_response_details (JsonObject     *record,
                      SluiceResponse *response)
{
  const char *reason = sluice_response_get_finish_reason (response);

  if (sluice_response_get_prompt_tokens (response) >= 0)
    {
      json_object_set_int_member (record, "cached_tokens", sluice_response_get_cached_tokens (response));
      json_object_set_int_member (record, "cache_write_tokens", sluice_response_get_cache_write_tokens (response));
      json_object_set_int_member (record, "reasoning_tokens", sluice_response_get_reasoning_tokens (response));
      json_object_set_boolean_member (record, "usage_estimated", sluice_response_get_usage_estimated (response));
    }
  if (reason != NULL)
    json_object_set_string_member (record, "finish_reason", reason);
  json_object_set_boolean_member (record, "streamed", sluice_response_get_streamed (response));
  if (sluice_response_get_ttft_us (response) >= 0)
    json_object_set_double_member (record, "ttft_ms", sluice_response_get_ttft_us (response) / 1000.0);
}

static void
add_cost (JsonObject     *record,
          CallTarget     *target,
          SluiceResponse *response,
          const GError   *error,
          gint64          prompt,
          gint64          completion)
{
  SluiceCatalog *catalog = sluice_catalog_get_default ();
  const char *served = response != NULL ? sluice_response_get_model (response) : NULL;
  gint64 cached = response != NULL ? sluice_response_get_cached_tokens (response) : 0;
  gint64 written = response != NULL ? sluice_response_get_cache_write_tokens (response) : 0;
  gdouble cost = -1;

  if (prompt < 0 || completion < 0)
    {
      if (error != NULL)
        json_object_set_double_member (record, "cost_usd", 0);   /* nothing was billed */
      else
        json_object_set_null_member (record, "cost_usd");
      return;
    }
  if (served != NULL)
    cost = sluice_catalog_compute_cost_full (catalog, target->provider_name, served, prompt, completion,
                                             cached, written);
  if (cost < 0)
    cost = sluice_catalog_compute_cost_full (catalog, target->provider_name, target->model, prompt,
                                             completion, cached, written);
  /* An unknown price is unknown, never free. */
  if (cost < 0)
    json_object_set_null_member (record, "cost_usd");
  else
    json_object_set_double_member (record, "cost_usd", cost);
}

JsonObject *
sluice_call_attempt_record (CallTarget     *target,
                            guint           target_index,
                            SluiceContext  *context,
                            SluiceResponse *response,
                            const GError   *error,
                            const char     *started_at,
                            gint64          delay_ms,
                            gint64          latency_ms)
{
  JsonObject *record = json_object_new ();
  const char *served = response != NULL ? sluice_response_get_model (response) : NULL;
  gint64 prompt = response != NULL ? sluice_response_get_prompt_tokens (response) : -1;
  gint64 completion = response != NULL ? sluice_response_get_completion_tokens (response) : -1;

  /* Numbered within the request, not this call: a re-run (the validate
   * stage's correction) calls the stage again on the same context. */
  json_object_set_int_member (record, "index", json_array_get_length (sluice_context_get_attempts (context)));
  json_object_set_string_member (record, "started_at", started_at);
  json_object_set_string_member (record, "provider", target->provider_name);
  json_object_set_string_member (record, "model", target->model);
  json_object_set_string_member (record, "target", target->name);
  if (target->structured != CALL_STRUCTURED_OFF)
    json_object_set_string_member (record, "structured_output", sluice_call_structured_name (target->structured));
  json_object_set_int_member (record, "target_index", target_index);
  if (served != NULL && !g_str_equal (served, target->model))
    json_object_set_string_member (record, "served_model", served);
  json_object_set_string_member (record, "outcome", error == NULL ? "ok" : "error");
  if (error != NULL)
    {
      json_object_set_string_member (record, "error_kind", sluice_error_kind (error->code));
      json_object_set_boolean_member (record, "retryable", sluice_error_code_is_retryable (error->code));
      json_object_set_string_member (record, "error_message", error->message);
    }
  if (response != NULL && sluice_response_get_http_status (response) > 0)
    json_object_set_int_member (record, "http_status", sluice_response_get_http_status (response));
  if (response != NULL && sluice_response_get_retry_after_ms (response) >= 0)
    json_object_set_int_member (record, "retry_after_ms", sluice_response_get_retry_after_ms (response));
  json_object_set_int_member (record, "delay_ms", delay_ms);
  json_object_set_int_member (record, "latency_ms", latency_ms);
  if (prompt >= 0)
    json_object_set_int_member (record, "prompt_tokens", prompt);
  if (completion >= 0)
    json_object_set_int_member (record, "completion_tokens", completion);
  add_cost (record, target, response, error, prompt, completion);
  /* The tokens of a failed attempt bought nothing. */
  json_object_set_boolean_member (record, "wasted", error != NULL && MAX (prompt, 0) + MAX (completion, 0) > 0);

  if (response != NULL && sluice_response_get_request_id (response) != NULL)
    json_object_set_string_member (record, "provider_request_id", sluice_response_get_request_id (response));
  if (response != NULL)
    add_response_details (record, response);
  /* The context-check stage cut a variable to make the prompt fit. */
  if (json_object_has_member (sluice_context_get_preflight (context), "truncated"))
    json_object_set_member (record, "truncated",
                            json_node_copy (json_object_get_member (sluice_context_get_preflight (context), "truncated")));
  return record;
}

/* Tokens billed for an attempt, as far as they are known. */
gint64
sluice_call_record_tokens (JsonObject *record)
{
  return MAX (sluice_json_get_int (record, "prompt_tokens", 0), 0) +
         MAX (sluice_json_get_int (record, "completion_tokens", 0), 0);
}
