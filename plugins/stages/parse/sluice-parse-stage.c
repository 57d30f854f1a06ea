/* sluice-parse-stage.c — takes the JSON answer out of the model's reply.
 *
 * The reply's tool-call arguments when the model answered with a tool
 * call (structured output), else its text without reasoning blocks: the
 * whole text (any JSON value), a fenced block, or a top-level object or
 * array amid prose, preferring one valid against the output schema (see
 * sluice-parse-extract.c); and, when the schema takes only strings, one
 * line of bare text as a string. With `repair: true` common syntax defects are
 * repaired, and a value cut by the token limit (finish reason `length`)
 * is closed; the attempt that gave the answer then records which repairs
 * were made, so that a repaired answer is never taken for a clean one.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-parse-stage.h"
#include "sluice-parse-extract.h"

#include <string.h>

/* LLM answers are rarely over a megabyte: 100k output tokens are ~400 KB. */
#define DEFAULT_MAX_ANSWER_BYTES (8 << 20)

#define DEFAULT_EXCERPT_CHARS 200

struct _SluiceParseStage
{
  GObject         parent_instance;

  SluicePipeline *pipeline;   /* not owned: the pipeline owns its stages */
  guint    correction_retries;
  gboolean repair;
  guint    excerpt_chars;
  gsize    max_answer_bytes;
};

static void sluice_parse_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceParseStage, sluice_parse_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_parse_stage_iface_init))

/* The arguments of the model's first tool call, when it answered with one
 * rather than with text: no text, a tool_call finish, or a text that is
 * those arguments (a provider's forced answer tool, as Anthropic's). */
/* Whether the target forces the model to call a tool (tool_choice other
 * than auto or none, in any provider's form): then a call's arguments
 * are the answer, as in the function-calling way of extracting data. */
static gboolean
target_forces_tool (SluiceContext *context)
{
  JsonObject *target = sluice_context_get_target (context);
  JsonNode *choice = target != NULL ? json_object_get_member (target, "tool_choice") : NULL;
  const char *mode;

  if (choice == NULL)
    return FALSE;
  if (JSON_NODE_HOLDS_VALUE (choice))
    mode = json_node_get_string (choice);
  else if (JSON_NODE_HOLDS_OBJECT (choice))
    mode = sluice_json_get_string (json_node_get_object (choice), "type");
  else
    return FALSE;
  return g_strcmp0 (mode, "auto") != 0 && g_strcmp0 (mode, "none") != 0;
}

/* The name of a tool the model chose to call instead of answering (the
 * target declares tools of its own and does not force one): sluice does
 * not run tools, so its arguments are no answer. NULL when there is none. */
static const char *
unanswered_tool_call (SluiceResponse *response,
                      SluiceContext  *context)
{
  JsonArray *calls = sluice_response_get_tool_calls (response);
  JsonObject *target = sluice_context_get_target (context);
  JsonNode *first;
  const char *name;

  if (calls == NULL || json_array_get_length (calls) == 0 || target == NULL ||
      !json_object_has_member (target, "tools") || target_forces_tool (context))
    return NULL;
  first = json_array_get_element (calls, 0);
  name = JSON_NODE_HOLDS_OBJECT (first) ? sluice_json_get_string (json_node_get_object (first), "name") : NULL;
  /* "answer" is the tool the anthropic provider forces for structured output */
  return g_strcmp0 (name, "answer") != 0 ? (name != NULL ? name : "(unnamed)") : NULL;
}

static const char *
tool_call_arguments (SluiceResponse *response)
{
  JsonArray *calls = sluice_response_get_tool_calls (response);
  const char *text = sluice_response_get_text (response);
  const char *arguments;
  JsonNode *first;

  if (calls == NULL || json_array_get_length (calls) == 0)
    return NULL;
  first = json_array_get_element (calls, 0);
  arguments = JSON_NODE_HOLDS_OBJECT (first) ? sluice_json_get_string (json_node_get_object (first), "arguments") : NULL;
  if (text != NULL && g_strcmp0 (sluice_response_get_finish_reason (response), "tool_call") != 0 &&
      g_strcmp0 (text, arguments) != 0)
    return NULL;
  return arguments;
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
record_parse (SluiceContext           *context,
              const char              *source,
              const SluiceParseResult *result)
{
  JsonObject *attempt = answering_attempt (context);
  g_autofree const char **names = sluice_parse_repair_names (result->repairs);

  if (result->repairs != 0)
    {
      g_autofree char *list = g_strjoinv (", ", (char **) names);

      g_info ("request %s: the answer's JSON was repaired (%s)", sluice_context_get_request_id (context), list);
    }
  if (attempt == NULL)
    return;
  json_object_set_string_member (attempt, "parsed_from", source);
  json_object_remove_member (attempt, "repairs");
  json_object_remove_member (attempt, "candidate");
  if (result->repairs != 0)
    {
      JsonArray *array = json_array_new ();

      for (guint i = 0; names[i] != NULL; i++)
        json_array_add_string_element (array, names[i]);
      json_object_set_array_member (attempt, "repairs", array);
    }
  /* Which of several values amid prose or in fences was taken. */
  if (result->n_candidates > 1)
    {
      g_autofree char *which = g_strdup_printf ("%u of %u", result->candidate, result->n_candidates);

      json_object_set_string_member (attempt, "candidate", which);
    }
}

/* Whether the output schema's root takes only strings: type string, or
 * an enum or const of strings. */
static gboolean
schema_takes_only_strings (JsonNode *schema)
{
  JsonObject *root = schema != NULL && JSON_NODE_HOLDS_OBJECT (schema) ? json_node_get_object (schema) : NULL;
  JsonNode *member;

  if (root == NULL)
    return FALSE;
  if (g_strcmp0 (sluice_json_get_string (root, "type"), "string") == 0)
    return TRUE;
  if ((member = json_object_get_member (root, "const")) != NULL)
    return JSON_NODE_HOLDS_VALUE (member) && json_node_get_value_type (member) == G_TYPE_STRING;
  if ((member = json_object_get_member (root, "enum")) != NULL && JSON_NODE_HOLDS_ARRAY (member))
    {
      JsonArray *values = json_node_get_array (member);

      for (guint i = 0; i < json_array_get_length (values); i++)
        {
          JsonNode *value = json_array_get_element (values, i);

          if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
            return FALSE;
        }
      return json_array_get_length (values) > 0;
    }
  return FALSE;
}

/* Whether the output schema's root is an object or an array (so the
 * answer must be one); FALSE when a scalar would do, or there is none. */
static gboolean
schema_wants_container (JsonNode *schema)
{
  JsonObject *root = schema != NULL && JSON_NODE_HOLDS_OBJECT (schema) ? json_node_get_object (schema) : NULL;
  const char *type = sluice_json_get_string (root, "type");

  return g_strcmp0 (type, "object") == 0 || g_strcmp0 (type, "array") == 0;
}

static gboolean
fits_output (JsonNode *value,
             gpointer  user_data)
{
  g_autoptr(JsonArray) violations = sluice_pipeline_check_output (user_data, value, 1);

  return violations == NULL;
}

static SluiceParseFlags
parse_flags (SluiceParseStage *self,
             SluiceResponse   *response,
             gboolean          repair)
{
  SluiceParseFlags flags = SLUICE_PARSE_STRICT;

  if (g_strcmp0 (sluice_response_get_finish_reason (response), "length") == 0)
    flags |= SLUICE_PARSE_CUT;
  if (repair)
    {
      flags |= SLUICE_PARSE_REPAIR;
      /* Closing a cut value is a guess: only when the answer was cut. */
      if (flags & SLUICE_PARSE_CUT)
        flags |= SLUICE_PARSE_CLOSE_TRUNCATED;
    }
  if (schema_takes_only_strings (sluice_pipeline_get_output_schema (self->pipeline)))
    flags |= SLUICE_PARSE_BARE_STRING;
  return flags;
}

static JsonNode *
extract (SluiceParseStage  *self,
         SluiceResponse    *response,
         gboolean           repair,
         const char       **source,
         SluiceParseResult *result)
{
  const char *arguments = tool_call_arguments (response);
  const char *text = sluice_response_get_text (response);
  SluiceParseFlags flags = parse_flags (self, response, repair);
  SluiceParseAcceptFunc accept = sluice_pipeline_get_output_schema (self->pipeline) != NULL ? fits_output : NULL;
  JsonNode *node = NULL;

  if (arguments != NULL &&
      (node = sluice_parse_extract (arguments, strlen (arguments), flags, accept, self->pipeline, result)) != NULL)
    {
      *source = "tool_call";
      return node;
    }
  if (text != NULL && g_strcmp0 (text, arguments) != 0 &&
      (node = sluice_parse_extract (text, strlen (text), flags, accept, self->pipeline, result)) != NULL)
    *source = sluice_parse_source_name (result->source);
  return node;
}

/* With repair off: the repairs that would have given a value (0: repair
 * would not help, and saying it would is a false lead). */
static guint
repairs_that_would_help (SluiceParseStage *self,
                         SluiceResponse   *response)
{
  SluiceParseResult result;
  const char *source;
  g_autoptr(JsonNode) node = NULL;

  if (self->repair)
    return 0;
  node = extract (self, response, TRUE, &source, &result);
  return node != NULL ? result.repairs : 0;
}

/* The repairs as the model is told of them. */
static char *
describe_repairs (guint repairs)
{
  static const struct { guint repair; const char *words; } defects[] = {
    { SLUICE_PARSE_REPAIR_SINGLE_QUOTES, "single-quoted strings" },
    { SLUICE_PARSE_REPAIR_UNQUOTED_KEYS, "unquoted keys" },
    { SLUICE_PARSE_REPAIR_PYTHON_LITERALS, "Python's True, False or None" },
    { SLUICE_PARSE_REPAIR_COMMENTS, "comments" },
    { SLUICE_PARSE_REPAIR_TRAILING_COMMA, "a trailing comma" },
    { SLUICE_PARSE_REPAIR_CLOSED_STRING | SLUICE_PARSE_REPAIR_CLOSED_BRACKETS |
      SLUICE_PARSE_REPAIR_DROPPED_MEMBER, "an unclosed value" },
  };
  g_autoptr(GString) text = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (defects); i++)
    if (repairs & defects[i].repair)
      g_string_append_printf (text, "%s%s", text->len > 0 ? ", " : "", defects[i].words);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
set_parse_error (SluiceParseStage  *self,
                 SluiceResponse    *response,
                 guint              would_help,
                 GError           **error)
{
  const char *text = tool_call_arguments (response);
  const char *finish = sluice_response_get_finish_reason (response);
  gboolean container = schema_wants_container (sluice_pipeline_get_output_schema (self->pipeline));
  g_autofree char *excerpt = NULL;
  g_autoptr(GError) refused = NULL;
  g_autofree char *hint = NULL;

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
    hint = g_strdup (self->repair ? "; it was cut at the token limit and could not be closed"
                     : would_help != 0 ? "; it was cut at the token limit: raise max_tokens, or set repair: true to close it"
                     : "; it was cut at the token limit: raise max_tokens");
  else if (would_help != 0)
    {
      g_autofree const char **names = sluice_parse_repair_names (would_help);
      g_autofree char *list = g_strjoinv (", ", (char **) names);

      hint = g_strdup_printf ("; repair: true would fix it (%s)", list);
    }
  if (self->excerpt_chars > 0)
    {
      g_autofree char *quote = sluice_text_excerpt (text, -1, self->excerpt_chars, NULL);

      excerpt = g_strdup_printf (": %s", quote);
    }
  g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_PARSE,
               "the answer (%zu bytes, finish reason %s) holds no JSON %s%s%s",
               strlen (text), finish ?: "unknown", container ? "object or array" : "value",
               hint ?: "", excerpt ?: "");
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
  SluiceParseResult result;
  guint would_help;

  if (response == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_PARSE,
                           "there is no answer to parse: put a call stage before parse");
      return SLUICE_VERDICT_FAIL;
    }
  if (unanswered_tool_call (response, context) != NULL)
    {
      sluice_context_record_format_check (context, FALSE);
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_PARSE,
                   "the model called its tool '%s' instead of answering: sluice does not run tools (force "
                   "one with tool_choice to take its arguments as the answer)",
                   unanswered_tool_call (response, context));
      return SLUICE_VERDICT_FAIL;
    }

  {
    const char *text = sluice_response_get_text (response);
    gsize size = text != NULL ? strlen (text) : 0;

    /* A parsed value takes about a hundred times its text in memory. */
    if (size > self->max_answer_bytes)
      {
        sluice_context_record_format_check (context, FALSE);
        g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_PARSE,
                     "the answer of %" G_GSIZE_FORMAT " bytes is larger than max_answer_bytes (%" G_GSIZE_FORMAT ")",
                     size, self->max_answer_bytes);
        return SLUICE_VERDICT_FAIL;
      }
  }

  node = extract (self, response, self->repair, &source, &result);
  if (node != NULL)
    {
      record_parse (context, source, &result);
      sluice_context_record_repaired_answer (context, result.repairs != 0);
      sluice_context_record_format_check (context, TRUE);
      sluice_context_set_output (context, node);
      return SLUICE_VERDICT_CONTINUE;
    }

  would_help = repairs_that_would_help (self, response);
  /* Its own corrections, within the reruns the pipeline allows (which
   * validate's corrections share). */
  if (sluice_context_get_n_corrections (context, "parse") < self->correction_retries &&
      sluice_context_get_n_reruns (context) < sluice_pipeline_get_max_reruns (self->pipeline))
    {
      if (g_strcmp0 (sluice_response_get_finish_reason (response), "length") == 0)
        sluice_context_ask_for_correction_by (context, "parse",
                                              "Your answer was cut off before its JSON was complete. Reply "
                                              "again with only the JSON, shorter, no prose and no Markdown.");
      else if (would_help != 0)
        {
          g_autofree char *defects = describe_repairs (would_help);
          g_autofree char *feedback =
            g_strdup_printf ("Your answer is not valid JSON: %s. Reply again with strict JSON only (double-quoted "
                             "strings, no comments, no trailing commas), no prose and no Markdown.", defects);

          sluice_context_ask_for_correction_by (context, "parse", feedback);
        }
      else
        sluice_context_ask_for_correction_by (context, "parse",
                                              schema_wants_container (sluice_pipeline_get_output_schema (self->pipeline))
                                              ? "Your answer held no JSON. Reply again with only the JSON "
                                                "object, no prose and no Markdown."
                                              : "Your answer held no JSON. Reply again with only the JSON "
                                                "value, no prose and no Markdown.");
      return SLUICE_VERDICT_RERUN;
    }
  sluice_context_record_format_check (context, FALSE);
  set_parse_error (self, response, would_help, error);
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
  self->max_answer_bytes = (gsize) sluice_json_get_int (config, "max_answer_bytes", DEFAULT_MAX_ANSWER_BYTES);
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
