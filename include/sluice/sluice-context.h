/* sluice-context.h — the per-request record every stage reads and writes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <json-glib/json-glib.h>

#include "sluice-response.h"

G_BEGIN_DECLS

#define SLUICE_TYPE_CONTEXT (sluice_context_get_type ())
G_DECLARE_FINAL_TYPE (SluiceContext, sluice_context, SLUICE, CONTEXT, GObject)

/**
 * SluiceContext:
 *
 * One request on its way through a pipeline: the input, the template
 * variables, the assembled messages, the target being called, the provider
 * response, the parsed output, every attempt, usage, cost, timings, labels
 * and, if it failed, the error.
 *
 * Attempts are JSON objects with these members (absent when unknown):
 * `index`, `started_at` (ISO 8601), `provider`, `model`, `outcome`
 * (`ok` or `error`), `error_kind`, `error_message`, `http_status`,
 * `retry_after_ms`, `delay_ms` (backoff waited before it), `latency_ms`,
 * `prompt_tokens`, `completion_tokens`, `cost_usd` (null when the model's
 * price is unknown), `provider_request_id`; the call stage adds
 * `structured_output` (`native` or `prompt`) when it asked for the output
 * schema, and the parse stage adds to the attempt whose answer it took
 * `parsed_from` (`tool_call`, `whole`, `fence` or `prose`) and, when it
 * repaired the JSON, `repairs` (an array of names such as
 * `trailing_comma` and `closed_brackets`).
 */

/**
 * sluice_context_new:
 * @input: (transfer none): the request input (copied)
 *
 * Returns: (transfer full): a new context with a fresh request id; when
 *   @input is an object its members are the initial template variables.
 */
SluiceContext  *sluice_context_new                (JsonNode       *input);

const char     *sluice_context_get_request_id     (SluiceContext  *self);
/**
 * sluice_context_get_input:
 * Returns: (transfer none): the request input
 */
JsonNode       *sluice_context_get_input          (SluiceContext  *self);
/**
 * sluice_context_get_variables:
 * Returns: (transfer none): template variables (start as the input's members)
 */
JsonObject     *sluice_context_get_variables      (SluiceContext  *self);
/**
 * sluice_context_get_messages:
 * Returns: (transfer none) (nullable): the chat messages to send
 *   (objects with `role` and `content`)
 */
JsonArray      *sluice_context_get_messages       (SluiceContext  *self);
/**
 * sluice_context_set_messages:
 * @messages: (transfer none) (nullable): the chat messages
 */
void            sluice_context_set_messages       (SluiceContext  *self,
                                                   JsonArray      *messages);
/**
 * sluice_context_set_counted_prompt_tokens:
 * @tokens: the prompt tokens of the current messages (-1: forget the count)
 * @estimated: %TRUE when @tokens is an estimate rather than an exact count
 * @model: (nullable): the model the messages were counted for
 *
 * Records what the `token-count` stage (or another counter) found, for
 * the stages and the budget that need the prompt's size before the call.
 * Replacing the messages (sluice_context_set_messages(), a correction)
 * forgets the count.
 */
void            sluice_context_set_counted_prompt_tokens (SluiceContext  *self,
                                                          gint64          tokens,
                                                          gboolean        estimated,
                                                          const char     *model);
/**
 * sluice_context_get_counted_prompt_tokens:
 * @estimated: (out) (optional): whether the count is an estimate
 * @model: (out) (optional) (transfer none) (nullable): the model it was
 *   counted for
 *
 * Returns: the prompt tokens of the current messages as last counted, or
 *   -1 when they have not been counted
 */
gint64          sluice_context_get_counted_prompt_tokens (SluiceContext  *self,
                                                          gboolean       *estimated,
                                                          const char    **model);
/**
 * sluice_context_get_preflight:
 *
 * What a check before the call found, as the `context-check` stage
 * writes it (empty until then): `provider`, `model`, `prompt_tokens`,
 * `prompt_tokens_estimated`, `reserved_output_tokens`, `context_window`,
 * `estimated_cost_usd` (null when the model has no price), `truncated`
 * (`{variable, tokens_removed, tokens_kept}` when a variable was cut to
 * fit) and `overflowing_targets` (`[{index, message}]`: the call stage's
 * targets that cannot hold the prompt, which it skips without a request).
 * The budget's estimate reads `reserved_output_tokens` for a target
 * without `max_tokens`.
 *
 * Returns: (transfer none): the pre-flight record
 */
JsonObject     *sluice_context_get_preflight      (SluiceContext  *self);
/**
 * sluice_context_get_target:
 * Returns: (transfer none) (nullable): the provider target in use
 */
JsonObject     *sluice_context_get_target         (SluiceContext  *self);
/**
 * sluice_context_set_target:
 * @target: (transfer none) (nullable): the target configuration
 */
void            sluice_context_set_target         (SluiceContext  *self,
                                                   JsonObject     *target);
/**
 * sluice_context_get_response:
 * Returns: (transfer none) (nullable): the successful provider response
 */
SluiceResponse *sluice_context_get_response       (SluiceContext  *self);
/**
 * sluice_context_set_response:
 * @response: (transfer none) (nullable): the response
 */
void            sluice_context_set_response       (SluiceContext  *self,
                                                   SluiceResponse *response);
/**
 * sluice_context_get_output:
 * Returns: (transfer none) (nullable): the parsed (and validated) answer
 */
JsonNode       *sluice_context_get_output         (SluiceContext  *self);
/**
 * sluice_context_set_output:
 * @output: (transfer none) (nullable): the answer (copied)
 */
void            sluice_context_set_output         (SluiceContext  *self,
                                                   JsonNode       *output);

/**
 * sluice_context_add_attempt:
 * @attempt: (transfer none): an attempt record (see #SluiceContext)
 */
void            sluice_context_add_attempt        (SluiceContext  *self,
                                                   JsonObject     *attempt);
/**
 * sluice_context_get_attempts:
 * Returns: (transfer none): the attempts so far, oldest first
 */
JsonArray      *sluice_context_get_attempts       (SluiceContext  *self);
gint64          sluice_context_get_prompt_tokens  (SluiceContext  *self);
gint64          sluice_context_get_completion_tokens (SluiceContext *self);
/**
 * sluice_context_get_cost:
 * Returns: the summed cost in USD of all attempts, or a negative number
 *   when any attempt's cost is unknown
 */
gdouble         sluice_context_get_cost           (SluiceContext  *self);

/**
 * sluice_context_get_elapsed_ms:
 * Returns: milliseconds since the context was created
 */
gint64          sluice_context_get_elapsed_ms     (SluiceContext  *self);
void            sluice_context_add_timing         (SluiceContext  *self,
                                                   const char     *name,
                                                   gint64          ms);
/**
 * sluice_context_get_timings:
 * Returns: (transfer none): stage name → milliseconds
 */
JsonObject     *sluice_context_get_timings        (SluiceContext  *self);

void            sluice_context_set_label          (SluiceContext  *self,
                                                   const char     *key,
                                                   const char     *value);
/**
 * sluice_context_get_label:
 * Returns: (transfer none) (nullable): the label's value
 */
const char     *sluice_context_get_label          (SluiceContext  *self,
                                                   const char     *key);
/**
 * sluice_context_get_labels:
 * Returns: (transfer none): all labels (pipeline, endpoint, user, session, job)
 */
JsonObject     *sluice_context_get_labels         (SluiceContext  *self);

/**
 * sluice_context_set_annotation:
 * @name: the annotation's name, e.g. `redactions`
 * @value: (transfer none) (nullable): its value (copied); %NULL removes it
 *
 * Notes a fact about the request for the record: the `log` stage copies
 * every annotation into the request's record (the `sanitize` stage notes
 * `redactions`, counts per kind, and `injection_suspected`, rule names).
 * Annotations are recorded as they are: never put input text or secrets
 * in one.
 */
void            sluice_context_set_annotation     (SluiceContext  *self,
                                                   const char     *name,
                                                   JsonNode       *value);
/**
 * sluice_context_get_annotations:
 * Returns: (transfer none): the annotations, name → value
 */
JsonObject     *sluice_context_get_annotations    (SluiceContext  *self);

/**
 * sluice_context_request_rerun:
 * @stage: the name of an earlier stage to run again from
 *
 * Asks the runner, together with the %SLUICE_VERDICT_RERUN verdict, to go
 * back to @stage (bounded by the pipeline's `max_reruns`).
 */
void            sluice_context_request_rerun      (SluiceContext  *self,
                                                   const char     *stage);
/**
 * sluice_context_ask_for_correction:
 * @feedback: what was wrong with the answer, addressed to the model
 *
 * Appends the model's answer and @feedback (as the user) to the messages
 * and asks to re-run from the `call` stage: the stage then returns
 * %SLUICE_VERDICT_RERUN.
 */
void            sluice_context_ask_for_correction (SluiceContext  *self,
                                                   const char     *feedback);
/**
 * sluice_context_ask_for_correction_by:
 * @stage: the name of the stage that rejected the answer (`parse`, `validate`)
 * @feedback: what was wrong with the answer, addressed to the model
 *
 * As sluice_context_ask_for_correction(), counted for @stage: see
 * sluice_context_get_n_corrections().
 */
void            sluice_context_ask_for_correction_by (SluiceContext *self,
                                                   const char     *stage,
                                                   const char     *feedback);
/**
 * sluice_context_get_n_corrections:
 * @stage: (nullable): a stage name, or %NULL for every stage
 *
 * Returns: how often @stage (or any stage) sent the answer back for a
 *   correction in this request
 */
guint           sluice_context_get_n_corrections  (SluiceContext  *self,
                                                   const char     *stage);

/**
 * SluiceCompliance:
 * @SLUICE_COMPLIANCE_UNCHECKED: no stage checked the answer's format
 * @SLUICE_COMPLIANCE_VALID_FIRST_TRY: the first answer passed every check
 * @SLUICE_COMPLIANCE_VALID_AFTER_CORRECTION: an answer passed after one or
 *   more corrections
 * @SLUICE_COMPLIANCE_VALID_AFTER_REPAIR: the first answer passed once the
 *   parse stage repaired its JSON (a cut answer closed is one: data may
 *   be missing)
 * @SLUICE_COMPLIANCE_INVALID: the request ended with an answer that broke
 *   the format (or without one after a correction was asked for)
 *
 * Whether the model's answer kept to the required format (JSON, the
 * `output` schema), as the `parse` and `validate` stages found.
 */
typedef enum
{
  SLUICE_COMPLIANCE_UNCHECKED,
  SLUICE_COMPLIANCE_VALID_FIRST_TRY,
  SLUICE_COMPLIANCE_VALID_AFTER_CORRECTION,
  SLUICE_COMPLIANCE_VALID_AFTER_REPAIR,
  SLUICE_COMPLIANCE_INVALID,
} SluiceCompliance;

/**
 * sluice_compliance_to_string:
 * Returns: (nullable): `valid_first_try`, `valid_after_correction`,
 *   `valid_after_repair`, `invalid`, or %NULL for
 *   %SLUICE_COMPLIANCE_UNCHECKED
 */
const char     *sluice_compliance_to_string       (SluiceCompliance compliance);
/**
 * sluice_context_record_format_check:
 * @valid: whether the answer passed the stage's check
 *
 * Called by a stage that checks the answer's format: the last check
 * decides the request's compliance, and a pass after a correction counts
 * as %SLUICE_COMPLIANCE_VALID_AFTER_CORRECTION.
 */
void            sluice_context_record_format_check (SluiceContext *self,
                                                   gboolean        valid);
/**
 * sluice_context_record_repaired_answer:
 * @repaired: whether the answer's JSON had to be repaired to parse
 *
 * Called by the stage that takes the answer from the reply, before its
 * format check: a repaired answer that passes without a correction counts
 * as %SLUICE_COMPLIANCE_VALID_AFTER_REPAIR.
 */
void            sluice_context_record_repaired_answer (SluiceContext *self,
                                                       gboolean       repaired);
/**
 * sluice_context_get_compliance:
 * Returns: whether the request's answer kept to the format, as the last
 *   check (or correction) found
 */
SluiceCompliance sluice_context_get_compliance    (SluiceContext  *self);
/**
 * sluice_context_get_answer_target:
 * Returns: (transfer none) (nullable): the name of the target that gave
 *   the answer the request ended with (the last attempt that answered)
 */
const char     *sluice_context_get_answer_target  (SluiceContext  *self);

/**
 * sluice_context_get_rerun_stage:
 * Returns: (transfer none) (nullable): the stage asked for
 */
const char     *sluice_context_get_rerun_stage    (SluiceContext  *self);
guint           sluice_context_get_n_reruns       (SluiceContext  *self);

/**
 * sluice_context_get_error:
 * Returns: (transfer none) (nullable): why the request failed
 */
const GError   *sluice_context_get_error          (SluiceContext  *self);
/**
 * sluice_context_set_error:
 * @error: (transfer none) (nullable): the failure (copied)
 * @stage: (nullable): the stage that failed
 */
void            sluice_context_set_error          (SluiceContext  *self,
                                                   const GError   *error,
                                                   const char     *stage);
/**
 * sluice_context_set_error_details:
 * @details: (transfer none) (nullable): members added to the error object
 *   of sluice_context_dup_result() (such as `violations`)
 *
 * Set by the stage that fails the request, before it returns
 * %SLUICE_VERDICT_FAIL; they go with the error and are cleared with it.
 */
void            sluice_context_set_error_details  (SluiceContext  *self,
                                                   JsonObject     *details);
/**
 * sluice_context_get_error_details:
 * Returns: (transfer none) (nullable): see sluice_context_set_error_details()
 */
JsonObject     *sluice_context_get_error_details  (SluiceContext  *self);
/**
 * sluice_context_get_error_stage:
 * Returns: (transfer none) (nullable): the stage that failed
 */
const char     *sluice_context_get_error_stage    (SluiceContext  *self);

/**
 * sluice_context_dup_result:
 *
 * The request's one result: the output, or `{"error": {"kind", "message",
 * "stage", "attempts"}}` when it failed, with the error details, if any,
 * among the members of the error object.
 *
 * Returns: (transfer full): the result
 */
JsonNode       *sluice_context_dup_result         (SluiceContext  *self);

/**
 * sluice_context_set_dry_run:
 * @dry_run: whether the request is only rendered
 *
 * A dry run (`sluice snapshot`) goes through the stages up to the
 * `call`, which renders the request it would send as the output instead
 * of sending it and responds; stages that spend or wait (rate limits,
 * budgets, cost sinks) let a dry run pass without counting it.
 */
void            sluice_context_set_dry_run        (SluiceContext  *self,
                                                   gboolean        dry_run);
gboolean        sluice_context_get_dry_run        (SluiceContext  *self);

/**
 * sluice_context_set_formatted:
 * @formatted: (nullable): the output as the user asked to see it: a
 *   string (a rendered template) or a JSON value (a projection)
 *
 * Set by the `format` stage. `sluice run` prints it instead of the
 * output and `sluice batch` adds it to each output line; the output
 * itself (what sinks and the ledger record) is left as it is.
 */
void            sluice_context_set_formatted      (SluiceContext  *self,
                                                   JsonNode       *formatted);
/**
 * sluice_context_get_formatted:
 *
 * Returns: (transfer none) (nullable): what the `format` stage made of
 *   the output, %NULL when the pipeline has none
 */
JsonNode       *sluice_context_get_formatted      (SluiceContext  *self);

G_END_DECLS
