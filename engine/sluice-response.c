/* sluice-response.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-response"

#include "sluice.h"

struct _SluiceResponse
{
  GObject  parent_instance;

  guint    http_status;
  char    *text;
  char    *finish_reason;
  char    *model;
  char    *request_id;
  gint64   prompt_tokens;
  gint64   completion_tokens;
  gint64   cached_tokens;
  gint64   reasoning_tokens;
  gboolean usage_estimated;
  gint64   cache_write_tokens;
  gint64   retry_after_ms;
  gint64   ratelimit_remaining_requests;
  gint64   ratelimit_remaining_tokens;
  gint64   ratelimit_reset_ms;
  gint64   ttft_us;
  gboolean streamed;
  JsonArray *tool_calls;
  GError  *error;
};

G_DEFINE_FINAL_TYPE (SluiceResponse, sluice_response, G_TYPE_OBJECT)

static void
sluice_response_finalize (GObject *object)
{
  SluiceResponse *self = SLUICE_RESPONSE (object);

  g_free (self->text);
  g_free (self->finish_reason);
  g_free (self->model);
  g_free (self->request_id);
  g_clear_pointer (&self->tool_calls, json_array_unref);
  g_clear_error (&self->error);

  G_OBJECT_CLASS (sluice_response_parent_class)->finalize (object);
}

static void
sluice_response_class_init (SluiceResponseClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_response_finalize;
}

static void
sluice_response_init (SluiceResponse *self)
{
  self->prompt_tokens = -1;
  self->completion_tokens = -1;
  self->retry_after_ms = -1;
  self->ratelimit_remaining_requests = -1;
  self->ratelimit_remaining_tokens = -1;
  self->ratelimit_reset_ms = -1;
  self->ttft_us = -1;
}

SluiceResponse *
sluice_response_new (void)
{
  return g_object_new (SLUICE_TYPE_RESPONSE, NULL);
}

#define STRING_ACCESSORS(field)                                              \
  const char *                                                               \
  sluice_response_get_##field (SluiceResponse *self)                         \
  {                                                                          \
    g_return_val_if_fail (SLUICE_IS_RESPONSE (self), NULL);                  \
    return self->field;                                                      \
  }                                                                          \
  void                                                                       \
  sluice_response_set_##field (SluiceResponse *self, const char *value)      \
  {                                                                          \
    g_return_if_fail (SLUICE_IS_RESPONSE (self));                            \
    g_free (self->field);                                                    \
    self->field = g_strdup (value);                                          \
  }

STRING_ACCESSORS (text)
STRING_ACCESSORS (finish_reason)
STRING_ACCESSORS (model)
STRING_ACCESSORS (request_id)

guint
sluice_response_get_http_status (SluiceResponse *self)
{
  g_return_val_if_fail (SLUICE_IS_RESPONSE (self), 0);
  return self->http_status;
}

void
sluice_response_set_http_status (SluiceResponse *self,
                                 guint           status)
{
  g_return_if_fail (SLUICE_IS_RESPONSE (self));
  self->http_status = status;
}

gint64
sluice_response_get_prompt_tokens (SluiceResponse *self)
{
  g_return_val_if_fail (SLUICE_IS_RESPONSE (self), -1);
  return self->prompt_tokens;
}

gint64
sluice_response_get_completion_tokens (SluiceResponse *self)
{
  g_return_val_if_fail (SLUICE_IS_RESPONSE (self), -1);
  return self->completion_tokens;
}

gint64
sluice_response_get_cached_tokens (SluiceResponse *self)
{
  g_return_val_if_fail (SLUICE_IS_RESPONSE (self), 0);
  return self->cached_tokens;
}

gint64
sluice_response_get_reasoning_tokens (SluiceResponse *self)
{
  g_return_val_if_fail (SLUICE_IS_RESPONSE (self), 0);
  return self->reasoning_tokens;
}

gboolean
sluice_response_get_usage_estimated (SluiceResponse *self)
{
  g_return_val_if_fail (SLUICE_IS_RESPONSE (self), FALSE);
  return self->usage_estimated;
}

void
sluice_response_set_usage (SluiceResponse *self,
                           gint64          prompt_tokens,
                           gint64          completion_tokens,
                           gint64          cached_tokens,
                           gint64          reasoning_tokens,
                           gboolean        estimated)
{
  g_return_if_fail (SLUICE_IS_RESPONSE (self));
  self->prompt_tokens = prompt_tokens;
  self->completion_tokens = completion_tokens;
  self->cached_tokens = cached_tokens;
  self->reasoning_tokens = reasoning_tokens;
  self->usage_estimated = estimated;
}

gint64
sluice_response_get_retry_after_ms (SluiceResponse *self)
{
  g_return_val_if_fail (SLUICE_IS_RESPONSE (self), -1);
  return self->retry_after_ms;
}

void
sluice_response_set_retry_after_ms (SluiceResponse *self,
                                    gint64          ms)
{
  g_return_if_fail (SLUICE_IS_RESPONSE (self));
  self->retry_after_ms = ms;
}

#define INT64_ACCESSORS(field)                                               \
  gint64                                                                     \
  sluice_response_get_##field (SluiceResponse *self)                         \
  {                                                                          \
    g_return_val_if_fail (SLUICE_IS_RESPONSE (self), -1);                    \
    return self->field;                                                      \
  }                                                                          \
  void                                                                       \
  sluice_response_set_##field (SluiceResponse *self, gint64 value)           \
  {                                                                          \
    g_return_if_fail (SLUICE_IS_RESPONSE (self));                            \
    self->field = value < 0 ? -1 : value;                                    \
  }

INT64_ACCESSORS (ratelimit_remaining_requests)
INT64_ACCESSORS (ratelimit_remaining_tokens)
INT64_ACCESSORS (ratelimit_reset_ms)

const GError *
sluice_response_get_error (SluiceResponse *self)
{
  g_return_val_if_fail (SLUICE_IS_RESPONSE (self), NULL);
  return self->error;
}

void
sluice_response_take_error (SluiceResponse *self,
                            GError         *error)
{
  g_return_if_fail (SLUICE_IS_RESPONSE (self));
  g_clear_error (&self->error);
  self->error = error;
}

gint64
sluice_response_get_cache_write_tokens (SluiceResponse *self)
{
  g_return_val_if_fail (SLUICE_IS_RESPONSE (self), 0);
  return self->cache_write_tokens;
}

void
sluice_response_set_cache_write_tokens (SluiceResponse *self,
                                        gint64          tokens)
{
  g_return_if_fail (SLUICE_IS_RESPONSE (self));
  self->cache_write_tokens = MAX (tokens, 0);
}

gboolean
sluice_response_get_streamed (SluiceResponse *self)
{
  g_return_val_if_fail (SLUICE_IS_RESPONSE (self), FALSE);
  return self->streamed;
}

void
sluice_response_set_streamed (SluiceResponse *self,
                              gboolean        streamed)
{
  g_return_if_fail (SLUICE_IS_RESPONSE (self));
  self->streamed = !!streamed;
}

gint64
sluice_response_get_ttft_us (SluiceResponse *self)
{
  g_return_val_if_fail (SLUICE_IS_RESPONSE (self), -1);
  return self->ttft_us;
}

void
sluice_response_set_ttft_us (SluiceResponse *self,
                             gint64          ttft_us)
{
  g_return_if_fail (SLUICE_IS_RESPONSE (self));
  self->ttft_us = ttft_us;
}

JsonArray *
sluice_response_get_tool_calls (SluiceResponse *self)
{
  g_return_val_if_fail (SLUICE_IS_RESPONSE (self), NULL);
  return self->tool_calls;
}

void
sluice_response_add_tool_call (SluiceResponse *self,
                               const char     *id,
                               const char     *name,
                               const char     *arguments)
{
  JsonObject *call;

  g_return_if_fail (SLUICE_IS_RESPONSE (self));
  g_return_if_fail (name != NULL);

  if (self->tool_calls == NULL)
    self->tool_calls = json_array_new ();
  call = json_object_new ();
  if (id != NULL)
    json_object_set_string_member (call, "id", id);
  else
    json_object_set_null_member (call, "id");
  json_object_set_string_member (call, "name", name);
  json_object_set_string_member (call, "arguments", arguments != NULL ? arguments : "");
  json_array_add_object_element (self->tool_calls, call);
}
