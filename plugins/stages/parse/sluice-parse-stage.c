/* sluice-parse-stage.c — extracts the JSON answer from the model's text.
 *
 * Models wrap JSON in prose and Markdown fences. In order, this stage
 * takes: the whole text; the first ```json (or ```) fenced block; the
 * first balanced {...} or [...] that parses.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-parse-stage.h"

#include <string.h>

struct _SluiceParseStage
{
  GObject parent_instance;

  guint   correction_retries;
};

static void sluice_parse_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceParseStage, sluice_parse_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_parse_stage_iface_init))

static JsonNode *
try_parse (const char *text,
           gsize       length)
{
  /* Only objects and arrays count as a structured answer. */
  while (length > 0 && g_ascii_isspace (*text))
    text++, length--;
  if (length == 0 || (*text != '{' && *text != '['))
    return NULL;
  return sluice_json_from_string (text, (gssize) length, NULL);
}

static JsonNode *
from_fence (const char *text)
{
  const char *open = strstr (text, "```");

  while (open != NULL)
    {
      const char *body = strchr (open + 3, '\n');
      const char *close;
      JsonNode *node;

      if (body == NULL)
        return NULL;
      body++;
      close = strstr (body, "```");
      if (close == NULL)
        return NULL;
      node = try_parse (body, close - body);
      if (node != NULL)
        return node;
      open = strstr (close + 3, "```");
    }
  return NULL;
}

/* The end of the balanced value starting at start, or NULL. */
static const char *
find_balanced_end (const char *start)
{
  char stack[256];
  guint depth = 0;
  gboolean in_string = FALSE;

  for (const char *p = start; *p != '\0'; p++)
    {
      if (in_string)
        {
          if (*p == '\\' && p[1] != '\0')
            p++;
          else if (*p == '"')
            in_string = FALSE;
          continue;
        }
      switch (*p)
        {
        case '"':
          in_string = TRUE;
          break;
        case '{':
        case '[':
          if (depth == sizeof stack)
            return NULL;
          stack[depth++] = *p == '{' ? '}' : ']';
          break;
        case '}':
        case ']':
          if (depth == 0 || stack[depth - 1] != *p)
            return NULL;
          if (--depth == 0)
            return p + 1;
          break;
        default:
          break;
        }
    }
  return NULL;
}

/* Each candidate is scanned to its end, so only the first few are tried:
 * an answer made of thousands of brackets must not take minutes. */
#define MAX_CANDIDATES 16

static JsonNode *
from_balanced (const char *text)
{
  guint tried = 0;

  for (const char *p = strpbrk (text, "{["); p != NULL && tried++ < MAX_CANDIDATES;
       p = strpbrk (p + 1, "{["))
    {
      const char *end = find_balanced_end (p);
      JsonNode *node;

      if (end != NULL && (node = try_parse (p, end - p)) != NULL)
        return node;
    }
  return NULL;
}

static SluiceVerdict
sluice_parse_stage_process (SluiceStage    *stage,
                            SluiceContext  *context,
                            GError        **error)
{
  SluiceResponse *response = sluice_context_get_response (context);
  const char *text = response != NULL ? sluice_response_get_text (response) : NULL;
  g_autoptr(JsonNode) node = NULL;

  if (text == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_PARSE,
                           "there is no answer to parse: put a call stage before parse");
      return SLUICE_VERDICT_FAIL;
    }

  node = try_parse (text, strlen (text));
  if (node == NULL)
    node = from_fence (text);
  if (node == NULL)
    node = from_balanced (text);

  if (node == NULL && sluice_context_get_n_reruns (context) < SLUICE_PARSE_STAGE (stage)->correction_retries)
    {
      sluice_context_ask_for_correction_by (context, "parse",
                                            "Your answer held no JSON. Reply again with only the JSON "
                                            "object, no prose and no Markdown.");
      return SLUICE_VERDICT_RERUN;
    }

  sluice_context_record_format_check (context, node != NULL);
  if (node == NULL)
    {
      /* The answer itself is not quoted: it may carry personal data. */
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_PARSE,
                   "the answer (%zu bytes, finish reason %s) holds no JSON object or array",
                   strlen (text), sluice_response_get_finish_reason (response) ?: "unknown");
      return SLUICE_VERDICT_FAIL;
    }

  sluice_context_set_output (context, node);
  return SLUICE_VERDICT_CONTINUE;
}

static gboolean
sluice_parse_stage_configure (SluiceStage     *stage,
                              SluicePipeline  *pipeline,
                              JsonObject      *config,
                              GError         **error)
{
  SluiceParseStage *self = SLUICE_PARSE_STAGE (stage);

  self->correction_retries = (guint) sluice_json_get_int (config, "correction_retries", 1);
  if (self->correction_retries > 0 && !sluice_pipeline_has_stage (pipeline, "call") &&
      !json_object_has_member (config, "correction_retries"))
    self->correction_retries = 0;   /* the default asks only when there is a call stage */
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
}

static void
sluice_parse_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_parse_stage_configure;
  iface->process = sluice_parse_stage_process;
}
