/* sluice-response.h — one provider reply, normalized across wire formats.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_RESPONSE (sluice_response_get_type ())
G_DECLARE_FINAL_TYPE (SluiceResponse, sluice_response, SLUICE, RESPONSE, GObject)

/**
 * SluiceResponse:
 *
 * What one provider attempt produced: either an answer (text, finish
 * reason, usage) or a classified failure (a %SLUICE_ERROR error with the
 * provider's retry-after hint). Providers fill it; the `call` stage reads it.
 */

SluiceResponse *sluice_response_new                 (void);

guint           sluice_response_get_http_status     (SluiceResponse *self);
void            sluice_response_set_http_status     (SluiceResponse *self,
                                                     guint           status);
/**
 * sluice_response_get_text:
 * Returns: (transfer none) (nullable): the answer text
 */
const char     *sluice_response_get_text            (SluiceResponse *self);
void            sluice_response_set_text            (SluiceResponse *self,
                                                     const char     *text);
/**
 * sluice_response_get_finish_reason:
 * Returns: (transfer none) (nullable): `stop`, `length`, `content_filter` or `tool_call`
 */
const char     *sluice_response_get_finish_reason   (SluiceResponse *self);
void            sluice_response_set_finish_reason   (SluiceResponse *self,
                                                     const char     *reason);
/**
 * sluice_response_get_model:
 * Returns: (transfer none) (nullable): the model that actually served
 */
const char     *sluice_response_get_model           (SluiceResponse *self);
void            sluice_response_set_model           (SluiceResponse *self,
                                                     const char     *model);
/**
 * sluice_response_get_request_id:
 * Returns: (transfer none) (nullable): the provider's request id
 */
const char     *sluice_response_get_request_id      (SluiceResponse *self);
void            sluice_response_set_request_id      (SluiceResponse *self,
                                                     const char     *request_id);
gint64          sluice_response_get_prompt_tokens   (SluiceResponse *self);
gint64          sluice_response_get_completion_tokens (SluiceResponse *self);
gint64          sluice_response_get_cached_tokens   (SluiceResponse *self);
gint64          sluice_response_get_reasoning_tokens (SluiceResponse *self);
gboolean        sluice_response_get_usage_estimated (SluiceResponse *self);
/**
 * sluice_response_set_usage:
 * @self: a #SluiceResponse
 * @prompt_tokens: input tokens, -1 if unknown
 * @completion_tokens: output tokens, -1 if unknown
 * @cached_tokens: input tokens served from the provider's prompt cache
 * @reasoning_tokens: output tokens spent on hidden reasoning
 * @estimated: %TRUE when counted locally rather than reported
 */
void            sluice_response_set_usage           (SluiceResponse *self,
                                                     gint64          prompt_tokens,
                                                     gint64          completion_tokens,
                                                     gint64          cached_tokens,
                                                     gint64          reasoning_tokens,
                                                     gboolean        estimated);
/**
 * sluice_response_get_retry_after_ms:
 * Returns: the provider's retry-after hint in milliseconds, or -1
 */
gint64          sluice_response_get_retry_after_ms  (SluiceResponse *self);
void            sluice_response_set_retry_after_ms  (SluiceResponse *self,
                                                     gint64          ms);
/**
 * sluice_response_get_ratelimit_remaining_requests:
 *
 * What the provider's rate-limit headers said was left of its request
 * limit after this request (`x-ratelimit-remaining-requests`,
 * `anthropic-ratelimit-requests-remaining`).
 *
 * Returns: the requests left, or -1 when unknown
 */
gint64          sluice_response_get_ratelimit_remaining_requests (SluiceResponse *self);
/**
 * sluice_response_set_ratelimit_remaining_requests:
 * @requests: the requests left, or -1 when unknown
 */
void            sluice_response_set_ratelimit_remaining_requests (SluiceResponse *self,
                                                                  gint64          requests);
/**
 * sluice_response_get_ratelimit_remaining_tokens:
 *
 * Returns: the tokens left of the provider's token limit, or -1 when unknown
 */
gint64          sluice_response_get_ratelimit_remaining_tokens (SluiceResponse *self);
/**
 * sluice_response_set_ratelimit_remaining_tokens:
 * @tokens: the tokens left, or -1 when unknown
 */
void            sluice_response_set_ratelimit_remaining_tokens (SluiceResponse *self,
                                                                gint64          tokens);
/**
 * sluice_response_get_ratelimit_reset_ms:
 *
 * Milliseconds until the provider's limit window resets: that of an
 * exhausted limit (remaining 0), the latest of them, else the soonest.
 *
 * Returns: the time to the reset, or -1 when unknown
 */
gint64          sluice_response_get_ratelimit_reset_ms (SluiceResponse *self);
/**
 * sluice_response_set_ratelimit_reset_ms:
 * @ms: the time to the reset, or -1 when unknown
 */
void            sluice_response_set_ratelimit_reset_ms (SluiceResponse *self,
                                                        gint64          ms);

/**
 * sluice_response_get_error:
 * Returns: (transfer none) (nullable): the classified failure, or %NULL on success
 */
const GError   *sluice_response_get_error           (SluiceResponse *self);
/**
 * sluice_response_take_error:
 * @self: a #SluiceResponse
 * @error: (transfer full): a %SLUICE_ERROR error
 */
void            sluice_response_take_error          (SluiceResponse *self,
                                                     GError         *error);

/**
 * sluice_response_get_cache_write_tokens:
 *
 * Returns: prompt tokens written to the provider's prompt cache (Anthropic
 *   `cache_creation_input_tokens`), 0 when none or unknown
 */
gint64          sluice_response_get_cache_write_tokens (SluiceResponse *self);
void            sluice_response_set_cache_write_tokens (SluiceResponse *self,
                                                        gint64          tokens);

/**
 * sluice_response_get_streamed:
 *
 * Returns: %TRUE when the answer arrived as an event stream
 */
gboolean        sluice_response_get_streamed        (SluiceResponse *self);
void            sluice_response_set_streamed        (SluiceResponse *self,
                                                     gboolean        streamed);

/**
 * sluice_response_get_ttft_us:
 *
 * Returns: microseconds from sending the request to the first token of a
 *   streamed answer, or -1 when not streamed or no token arrived
 */
gint64          sluice_response_get_ttft_us         (SluiceResponse *self);
void            sluice_response_set_ttft_us         (SluiceResponse *self,
                                                     gint64          ttft_us);

/**
 * sluice_response_get_tool_calls:
 *
 * Returns: (transfer none) (nullable): the tool calls the model made, in
 *   order, each `{"id", "name", "arguments"}` with arguments as the JSON
 *   text the provider sent; %NULL when there were none
 */
JsonArray      *sluice_response_get_tool_calls      (SluiceResponse *self);

/**
 * sluice_response_add_tool_call:
 * @id: (nullable): the provider's id of the call
 * @name: the tool's name
 * @arguments: the arguments as JSON text
 */
void            sluice_response_add_tool_call       (SluiceResponse *self,
                                                     const char     *id,
                                                     const char     *name,
                                                     const char     *arguments);

G_END_DECLS
