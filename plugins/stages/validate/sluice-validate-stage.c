/* sluice-validate-stage.c — checks the parsed answer against the
 * pipeline's `output` schema; asks the model to correct it.
 *
 * A correction appends the model's answer (as the assistant) and the
 * violations (as the user) to the messages and re-runs from the `call`
 * stage: at most correction_retries times (default 1), and never past the
 * pipeline's max_reruns, which the parse stage's corrections share. An
 * answer that is still invalid fails the request with a `validation`
 * error carrying the violations and an excerpt of the answer; the answer
 * itself is dropped, never handed on as if it were good.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-validate-stage.h"

#define DEFAULT_CORRECTION_RETRIES 1
/* What the model and the error are shown is bounded: an answer can break
 * a schema in thousands of places, under property names of any length. */
#define MAX_VIOLATIONS 10
#define MAX_VIOLATION_CHARS 300
#define RAW_OUTPUT_CHARS 500

struct _SluiceValidateStage
{
  GObject         parent_instance;

  SluicePipeline *pipeline;   /* not owned: the pipeline owns its stages */
  guint           correction_retries;
  guint           excerpt_chars;     /* of raw_output; 0: none */
};

static void sluice_validate_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceValidateStage, sluice_validate_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_validate_stage_iface_init))

static gboolean
sluice_validate_stage_configure (SluiceStage     *stage,
                                 SluicePipeline  *pipeline,
                                 JsonObject      *config,
                                 GError         **error)
{
  SluiceValidateStage *self = SLUICE_VALIDATE_STAGE (stage);
  gboolean explicit = json_object_has_member (config, "correction_retries");

  if (sluice_pipeline_get_output_schema (pipeline) == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "the pipeline has no 'output' schema to validate against");
      return FALSE;
    }

  /* The answer validate checks is the one parse took from the model's
   * reply: a call without a parse between it and validate would make
   * every request pay for a call and then fail. (A stage of one's own
   * may set the output instead.) */
  {
    gboolean saw_call = FALSE;

    for (guint i = 0; i < sluice_pipeline_get_n_stages (pipeline); i++)
      {
        const char *name = sluice_pipeline_get_stage_name (pipeline, i);

        if (g_str_equal (name, "parse"))
          break;
        saw_call = saw_call || g_str_equal (name, "call");
        if (g_str_equal (name, "validate") && (saw_call || sluice_pipeline_has_stage (pipeline, "parse")))
          return sluice_config_invalid (error, "needs a parse stage before it (it is stage %u): it checks "
                                        "the answer parse takes from the model's reply", i + 1);
      }
  }

  self->pipeline = pipeline;
  self->excerpt_chars = (guint) sluice_json_get_int (config, "error_excerpt", RAW_OUTPUT_CHARS);
  self->correction_retries = (guint) sluice_json_get_int (config, "correction_retries",
                                                          DEFAULT_CORRECTION_RETRIES);
  if (self->correction_retries > 0 && !sluice_pipeline_has_stage (pipeline, "call"))
    {
      /* Only an explicit setting is a mistake: the default asks for a
       * correction when there is someone to ask. */
      if (explicit)
        {
          g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                               "correction_retries needs a call stage before validate");
          return FALSE;
        }
      self->correction_retries = 0;
    }
  return TRUE;
}

/* The violations, bounded: at most MAX_VIOLATIONS, each path and message
 * cut to MAX_VIOLATION_CHARS. */
static JsonArray *
bounded_violations (JsonArray *violations)
{
  guint n = MIN (json_array_get_length (violations), MAX_VIOLATIONS);
  JsonArray *bounded = json_array_sized_new (n);

  for (guint i = 0; i < n; i++)
    {
      JsonObject *v = json_array_get_object_element (violations, i);
      JsonObject *copy = json_object_new ();
      const char * const members[] = { "instance_path", "keyword_path", "message" };

      for (guint m = 0; m < G_N_ELEMENTS (members); m++)
        {
          const char *value = sluice_json_get_string (v, members[m]);
          g_autofree char *cut = NULL;

          /* sluice_text_excerpt() folds white space, which a JSON
           * Pointer may hold: only what is too long is cut. */
          if (value != NULL && g_utf8_strlen (value, -1) > MAX_VIOLATION_CHARS)
            value = cut = sluice_text_excerpt (value, -1, MAX_VIOLATION_CHARS, NULL);
          json_object_set_string_member (copy, members[m], value ?: "");
        }
      json_array_add_object_element (bounded, copy);
    }
  return bounded;
}

/* Each violation as "PATH: MESSAGE" ("/" for the root), each after
 * @lead (the first after @first_lead), then @more when some were left out
 * (NULL: none were). */
static void
append_violations (GString    *text,
                   JsonArray  *violations,
                   const char *first_lead,
                   const char *lead,
                   const char *more)
{
  for (guint i = 0; i < json_array_get_length (violations); i++)
    {
      JsonObject *v = json_array_get_object_element (violations, i);
      const char *path = sluice_json_get_string (v, "instance_path");

      g_string_append_printf (text, "%s%s: %s", i > 0 ? lead : first_lead, *path != '\0' ? path : "/",
                              sluice_json_get_string (v, "message"));
    }
  if (more != NULL)
    g_string_append_printf (text, "%s%s", lead, more);
}

static char *
raw_output_excerpt (SluiceContext *context,
                    guint          max_chars)
{
  SluiceResponse *response = sluice_context_get_response (context);
  g_autofree char *serialized = NULL;

  if (response != NULL && sluice_response_get_text (response) != NULL)
    return sluice_text_excerpt (sluice_response_get_text (response), -1, max_chars, NULL);
  serialized = sluice_json_to_string (sluice_context_get_output (context));
  return sluice_text_excerpt (serialized, -1, max_chars, NULL);
}

/* Whether the answer was cut at the token limit and closed by the parse
 * stage (which records its repairs on the answering attempt): what is
 * missing is then missing because of the cut. */
static gboolean
answer_was_closed (SluiceContext *context)
{
  JsonArray *attempts = sluice_context_get_attempts (context);

  for (guint i = json_array_get_length (attempts); i > 0; i--)
    {
      JsonObject *attempt = json_array_get_object_element (attempts, i - 1);
      JsonNode *repairs;

      if (attempt == NULL || g_strcmp0 (sluice_json_get_string (attempt, "outcome"), "ok") != 0)
        continue;
      if (g_strcmp0 (sluice_json_get_string (attempt, "finish_reason"), "length") != 0 ||
          (repairs = json_object_get_member (attempt, "repairs")) == NULL || !JSON_NODE_HOLDS_ARRAY (repairs))
        return FALSE;
      for (guint r = 0; r < json_array_get_length (json_node_get_array (repairs)); r++)
        if (g_strcmp0 (json_array_get_string_element (json_node_get_array (repairs), r), "closed_brackets") == 0)
          return TRUE;
      return FALSE;
    }
  return FALSE;
}

static SluiceVerdict
sluice_validate_stage_process (SluiceStage    *stage,
                               SluiceContext  *context,
                               GError        **error)
{
  SluiceValidateStage *self = SLUICE_VALIDATE_STAGE (stage);
  JsonNode *output = sluice_context_get_output (context);
  g_autoptr(JsonArray) found = NULL;
  g_autoptr(JsonArray) violations = NULL;
  g_autoptr(JsonObject) details = NULL;
  g_autoptr(GString) message = NULL;
  g_autofree char *raw_output = NULL;
  guint corrections;
  gboolean more;

  if (output == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_VALIDATION,
                           "there is no parsed answer to validate: put a parse stage before validate");
      return SLUICE_VERDICT_FAIL;
    }

  /* One more than is shown, to know whether there are more. */
  found = sluice_pipeline_check_output (self->pipeline, output, MAX_VIOLATIONS + 1);
  if (found == NULL)
    {
      sluice_context_record_format_check (context, TRUE);
      return SLUICE_VERDICT_CONTINUE;
    }
  violations = bounded_violations (found);
  more = json_array_get_length (found) > MAX_VIOLATIONS;

  if (sluice_context_get_n_corrections (context, "validate") < self->correction_retries &&
      sluice_context_get_n_reruns (context) < sluice_pipeline_get_max_reruns (self->pipeline))
    {
      gboolean cut = answer_was_closed (context);
      g_autoptr(GString) feedback =
        g_string_new (cut ? "Your answer was cut off before its JSON was complete, and what was left does not "
                            "satisfy the required JSON Schema:"
                          : "Your answer does not satisfy the required JSON Schema:");

      append_violations (feedback, violations, "\n- ", "\n- ", more ? "(and more)" : NULL);
      g_string_append (feedback, cut ? "\nReply again with only the JSON, shorter, no prose and no Markdown."
                                     : "\nReply again with only the corrected JSON.");
      sluice_context_ask_for_correction_by (context, "validate", feedback->str);
      return SLUICE_VERDICT_RERUN;
    }

  sluice_context_record_format_check (context, FALSE);
  /* error_excerpt: 0 quotes nothing of an answer that may hold personal data */
  if (self->excerpt_chars > 0)
    raw_output = raw_output_excerpt (context, self->excerpt_chars);
  details = json_object_new ();
  if (raw_output != NULL)
    json_object_set_string_member (details, "raw_output", raw_output);
  json_object_set_array_member (details, "violations", g_steal_pointer (&violations));
  sluice_context_set_error_details (context, details);

  message = g_string_new (answer_was_closed (context)
                          ? "the answer (cut at the token limit, and closed) does not match the output schema"
                          : "the answer does not match the output schema");
  corrections = sluice_context_get_n_corrections (context, "validate");
  if (corrections > 0)
    g_string_append_printf (message, " after %u correction%s", corrections, corrections == 1 ? "" : "s");
  append_violations (message, json_object_get_array_member (details, "violations"), ": ", "; ",
                     more ? "and more" : NULL);
  sluice_context_set_output (context, NULL);
  g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_VALIDATION, message->str);
  return SLUICE_VERDICT_FAIL;
}

static void
sluice_validate_stage_class_init (SluiceValidateStageClass *klass)
{
}

static void
sluice_validate_stage_init (SluiceValidateStage *self)
{
}

static void
sluice_validate_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_validate_stage_configure;
  iface->process = sluice_validate_stage_process;
}
