/* sluice-parse-stage.c — takes the JSON answer out of the model's reply.
 *
 * The reply's tool-call arguments when the model answered with a tool
 * call (structured output), else its text: the whole text, a fenced
 * block, or the first balanced object or array amid prose (see
 * sluice-parse-extract.c). With `repair: true` common syntax defects are
 * repaired, and a value cut by the token limit (finish reason `length`)
 * is closed; the attempt that gave the answer then records which repairs
 * were made, so that a repaired answer is never taken for a clean one.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-parse-stage.h"
#include "sluice-parse-extract.h"

#include <string.h>

#define DEFAULT_EXCERPT_CHARS 200

struct _SluiceParseStage
{
  GObject         parent_instance;

  SluicePipeline *pipeline;   /* not owned: the pipeline owns its stages */
  guint    correction_retries;
  gboolean repair;
  guint    excerpt_chars;
};

static void sluice_parse_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceParseStage, sluice_parse_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_parse_stage_iface_init))

/* The arguments of the model's first tool call, when it answered with one
 * rather than with text. */
static const char *
tool_call_arguments (SluiceResponse *response)
{
  JsonArray *calls = sluice_response_get_tool_calls (response);
  JsonNode *first;

  if (calls == NULL || json_array_get_length (calls) == 0)
    return NULL;
  if (sluice_response_get_text (response) != NULL &&
      g_strcmp0 (sluice_response_get_finish_reason (response), "tool_call") != 0)
    return NULL;
  first = json_array_get_element (calls, 0);
  return JSON_NODE_HOLDS_OBJECT (first) ? sluice_json_get_string (json_node_get_object (first), "arguments") : NULL;
}

/* The attempt whose answer this is: the last one that succeeded. */
static JsonObject *
answering_attempt (SluiceContext *context)
{
  JsonArray *attempts = sluice_context_get_attempts (context);

  for (guint i = json_array_get_length (attempts); i > 0; i--)
    {
      JsonObject *attempt = json_array_get_object_element (attempts, i - 1);

      if (attempt != NULL && g_strcmp0 (sluice_json_get_string (attempt, "outcome"), "ok") == 0)
        return attempt;
    }
  return NULL;
}

static void
record_parse (SluiceContext *context,
              const char    *source,
              guint          repairs)
{
  JsonObject *attempt = answering_attempt (context);
  g_autofree const char **names = sluice_parse_repair_names (repairs);

  if (repairs != 0)
    {
      g_autofree char *list = g_strjoinv (", ", (char **) names);

      g_info ("request %s: the answer's JSON was repaired (%s)", sluice_context_get_request_id (context), list);
    }
  if (attempt == NULL)
    return;
  json_object_set_string_member (attempt, "parsed_from", source);
  json_object_remove_member (attempt, "repairs");
  if (repairs != 0)
    {
      JsonArray *array = json_array_new ();

      for (guint i = 0; names[i] != NULL; i++)
        json_array_add_string_element (array, names[i]);
      json_object_set_array_member (attempt, "repairs", array);
    }
}

static JsonNode *
extract (SluiceParseStage *self,
         SluiceResponse   *response,
         const char      **source,
         guint            *repairs)
{
  const char *arguments = tool_call_arguments (response);
  const char *text = sluice_response_get_text (response);
  SluiceParseFlags flags = SLUICE_PARSE_STRICT;
  SluiceParseSource from;
  JsonNode *node = NULL;

  if (g_strcmp0 (sluice_response_get_finish_reason (response), "length") == 0)
    flags |= SLUICE_PARSE_CUT;
  if (self->repair)
    {
      flags |= SLUICE_PARSE_REPAIR;
      /* Closing a cut value is a guess: only when the answer was cut. */
      if (flags & SLUICE_PARSE_CUT)
        flags |= SLUICE_PARSE_CLOSE_TRUNCATED;
    }
  if (arguments != NULL && (node = sluice_parse_extract (arguments, strlen (arguments), flags, repairs, &from)) != NULL)
    {
      *source = "tool_call";
      return node;
    }
  if (text != NULL && (node = sluice_parse_extract (text, strlen (text), flags, repairs, &from)) != NULL)
    *source = sluice_parse_source_name (from);
  return node;
}

static void
set_parse_error (SluiceParseStage  *self,
                 SluiceResponse    *response,
                 GError           **error)
{
  const char *text = tool_call_arguments (response);
  const char *finish = sluice_response_get_finish_reason (response);
  g_autofree char *excerpt = NULL;
  g_autoptr(GError) refused = NULL;
  const char *hint = "";

  if (text == NULL)
    text = sluice_response_get_text (response);
  if (text == NULL)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_PARSE,
                   "the answer holds no text and no tool call (finish reason %s)", finish ?: "unknown");
      return;
    }
  /* JSON that sluice refuses rather than changes (a number beyond 64 bits
   * or a double, 02134, a NUL character): say so, not "no JSON" */
  if (!sluice_json_check_text (text, -1, &refused) &&
      g_error_matches (refused, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_PARSE,
                   "the answer (%zu bytes, finish reason %s) holds JSON that cannot be kept as it is: %s",
                   strlen (text), finish ?: "unknown", refused->message);
      return;
    }
  if (g_strcmp0 (finish, "length") == 0)
    hint = self->repair ? "; it was cut at the token limit and could not be closed"
                        : "; it was cut at the token limit: raise max_tokens, or set repair: true to close it";
  else if (!self->repair)
    hint = "; repair: true fixes trailing commas, single quotes and unquoted keys";
  if (self->excerpt_chars > 0)
    {
      g_autofree char *quote = sluice_text_excerpt (text, -1, self->excerpt_chars, NULL);

      excerpt = g_strdup_printf (": %s", quote);
    }
  g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_PARSE,
               "the answer (%zu bytes, finish reason %s) holds no JSON object or array%s%s",
               strlen (text), finish ?: "unknown", hint, excerpt ?: "");
}

static SluiceVerdict
sluice_parse_stage_process (SluiceStage    *stage,
                            SluiceContext  *context,
                            GError        **error)
{
  SluiceParseStage *self = SLUICE_PARSE_STAGE (stage);
  SluiceResponse *response = sluice_context_get_response (context);
  g_autoptr(JsonNode) node = NULL;
  const char *source = NULL;
  guint repairs = 0;

  if (response == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_PARSE,
                           "there is no answer to parse: put a call stage before parse");
      return SLUICE_VERDICT_FAIL;
    }

  node = extract (self, response, &source, &repairs);
  if (node != NULL)
    {
      record_parse (context, source, repairs);
      sluice_context_record_format_check (context, TRUE);
      sluice_context_set_output (context, node);
      return SLUICE_VERDICT_CONTINUE;
    }

  /* Its own corrections, within the reruns the pipeline allows (which
   * validate's corrections share). */
  if (sluice_context_get_n_corrections (context, "parse") < self->correction_retries &&
      sluice_context_get_n_reruns (context) < sluice_pipeline_get_max_reruns (self->pipeline))
    {
      if (g_strcmp0 (sluice_response_get_finish_reason (response), "length") == 0)
        sluice_context_ask_for_correction_by (context, "parse",
                                              "Your answer was cut off before its JSON was complete. Reply "
                                              "again with only the JSON, shorter, no prose and no Markdown.");
      else
        sluice_context_ask_for_correction_by (context, "parse",
                                              "Your answer held no JSON. Reply again with only the JSON "
                                              "object, no prose and no Markdown.");
      return SLUICE_VERDICT_RERUN;
    }
  sluice_context_record_format_check (context, FALSE);
  set_parse_error (self, response, error);
  return SLUICE_VERDICT_FAIL;
}

static gboolean
sluice_parse_stage_configure (SluiceStage     *stage,
                              SluicePipeline  *pipeline,
                              JsonObject      *config,
                              GError         **error)
{
  SluiceParseStage *self = SLUICE_PARSE_STAGE (stage);
  JsonNode *repair = json_object_get_member (config, "repair");
  gint64 excerpt = sluice_json_get_int (config, "error_excerpt", DEFAULT_EXCERPT_CHARS);

  self->pipeline = pipeline;
  self->correction_retries = (guint) sluice_json_get_int (config, "correction_retries", 1);
  if (self->correction_retries > 0 && !sluice_pipeline_has_stage (pipeline, "call") &&
      !json_object_has_member (config, "correction_retries"))
    self->correction_retries = 0;   /* the default asks only when there is a call stage */
  self->repair = repair != NULL && JSON_NODE_HOLDS_VALUE (repair) && json_node_get_boolean (repair);
  if (excerpt < 0 || excerpt > 2000)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "error_excerpt must be from 0 to 2000 characters");
      return FALSE;
    }
  self->excerpt_chars = (guint) excerpt;
  if (self->correction_retries > 0 && !sluice_pipeline_has_stage (pipeline, "call"))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "correction_retries needs a call stage before parse");
      return FALSE;
    }
  return TRUE;
}

static void
sluice_parse_stage_class_init (SluiceParseStageClass *klass)
{
}

static void
sluice_parse_stage_init (SluiceParseStage *self)
{
  self->excerpt_chars = DEFAULT_EXCERPT_CHARS;
}

static void
sluice_parse_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_parse_stage_configure;
  iface->process = sluice_parse_stage_process;
}
