/* sluice-token-count-stage.c — counts the prompt tokens of the assembled
 * messages for the model they are going to.
 *
 * The model is the block's `model` (and `provider`), else the call
 * stage's `target`, else its first `targets` entry. For a model with a
 * local tokenizer (OpenAI's, see sluice_tokenizer_get_for_model()) the
 * count is exact, framing included; for any other it is the o200k_base
 * count times `safety_factor`, marked as an estimate. `encoding:` counts
 * exactly with that encoding whatever the model.
 *
 * The count goes where later stages and the call stage's budget read it:
 * sluice_context_get_counted_prompt_tokens() (with whether it is an
 * estimate and the model it is for), and the template variables
 * `input_tokens` (what the rate-limit stage and the route policy read)
 * and `input_tokens_estimated`.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-token-count-stage.h"

#include <math.h>

struct _SluiceTokenCountStage
{
  GObject          parent_instance;

  char            *provider;
  char            *model;
  SluiceTokenizer *encoding;        /* from `encoding:`; NULL: by the model */
  gdouble          safety_factor;
};

static void sluice_token_count_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceTokenCountStage, sluice_token_count_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_token_count_stage_iface_init))

static SluiceVerdict
sluice_token_count_stage_process (SluiceStage    *stage,
                                  SluiceContext  *context,
                                  GError        **error)
{
  SluiceTokenCountStage *self = SLUICE_TOKEN_COUNT_STAGE (stage);
  JsonArray *messages = sluice_context_get_messages (context);
  JsonObject *variables = sluice_context_get_variables (context);
  gboolean estimated = TRUE;
  gint64 tokens;

  if (messages == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_FAILED,
                           "there are no messages to count: put an assemble stage before token-count");
      return SLUICE_VERDICT_FAIL;
    }
  if (self->encoding != NULL)
    {
      gboolean exact = FALSE;

      tokens = sluice_tokenizer_count_messages (self->encoding, messages, &exact);
      estimated = !exact;
    }
  else
    tokens = sluice_count_prompt_tokens (messages, self->provider, self->model, self->safety_factor, &estimated);

  sluice_context_set_counted_prompt_tokens (context, tokens, estimated, self->model);
  json_object_set_int_member (variables, "input_tokens", tokens);
  json_object_set_boolean_member (variables, "input_tokens_estimated", estimated);
  return SLUICE_VERDICT_CONTINUE;
}

/* The call stage's target, or its first one. */
static JsonObject *
call_target (SluicePipeline *pipeline)
{
  JsonObject *call = sluice_pipeline_get_stage_config (pipeline, "call");
  JsonNode *node;

  if (call == NULL)
    return NULL;
  node = json_object_get_member (call, "target");
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    return json_node_get_object (node);
  node = json_object_get_member (call, "targets");
  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node) && json_array_get_length (json_node_get_array (node)) > 0)
    {
      JsonNode *first = json_array_get_element (json_node_get_array (node), 0);

      return JSON_NODE_HOLDS_OBJECT (first) ? json_node_get_object (first) : NULL;
    }
  return NULL;
}

static gboolean
sluice_token_count_stage_configure (SluiceStage     *stage,
                                    SluicePipeline  *pipeline,
                                    JsonObject      *config,
                                    GError         **error)
{
  SluiceTokenCountStage *self = SLUICE_TOKEN_COUNT_STAGE (stage);
  JsonObject *target = call_target (pipeline);
  const char *model = sluice_json_get_string (config, "model");
  const char *provider = sluice_json_get_string (config, "provider");
  const char *encoding = sluice_json_get_string (config, "encoding");
  JsonNode *factor = json_object_get_member (config, "safety_factor");

  if (model == NULL)
    {
      model = sluice_json_get_string (target, "model");
      if (provider == NULL)
        provider = sluice_json_get_string (target, "provider");
    }
  if (model != NULL && *model == '\0')
    model = NULL;
  if (model == NULL && encoding == NULL)
    return sluice_config_invalid (error, "no model to count for: give 'model' (or 'encoding'), "
                                         "or put a call stage with a target in the pipeline");
  g_free (self->model);
  self->model = g_strdup (model);
  g_free (self->provider);
  self->provider = g_strdup (provider);

  self->safety_factor = SLUICE_TOKEN_SAFETY_FACTOR;
  if (factor != NULL)
    {
      if (!JSON_NODE_HOLDS_VALUE (factor) || !isfinite (json_node_get_double (factor)) ||
          json_node_get_double (factor) < 1 || json_node_get_double (factor) > 4)
        return sluice_config_invalid (error, "safety_factor: must be a number from 1 to 4");
      self->safety_factor = json_node_get_double (factor);
    }

  /* Load the rank file now: a missing one is a configuration error, and
   * the first request does not wait for it. */
  if (encoding == NULL)
    encoding = sluice_catalog_get_tokenizer (sluice_catalog_get_default (), self->provider, self->model);
  if (encoding == NULL)
    encoding = "o200k_base";   /* the stand-in count */
  {
    g_autoptr(GError) local = NULL;
    SluiceTokenizer *tokenizer = sluice_tokenizer_get (encoding, &local);

    if (tokenizer == NULL)
      return sluice_config_invalid (error, "%s", local->message);
    if (sluice_json_get_string (config, "encoding") != NULL)
      self->encoding = tokenizer;
  }
  return TRUE;
}

static void
sluice_token_count_stage_finalize (GObject *object)
{
  SluiceTokenCountStage *self = SLUICE_TOKEN_COUNT_STAGE (object);

  g_free (self->provider);
  g_free (self->model);

  G_OBJECT_CLASS (sluice_token_count_stage_parent_class)->finalize (object);
}

static void
sluice_token_count_stage_class_init (SluiceTokenCountStageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_token_count_stage_finalize;
}

static void
sluice_token_count_stage_init (SluiceTokenCountStage *self)
{
}

static void
sluice_token_count_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_token_count_stage_configure;
  iface->process = sluice_token_count_stage_process;
}
