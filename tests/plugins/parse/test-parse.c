/* test-parse.c — the parse stage and structured output, end to end: a
 * pipeline (assemble, call, parse) against the real mock provider over
 * HTTP, the mock scripted to answer with fenced JSON, prose around JSON,
 * defects to repair, a cut answer (finish reason length) and a tool
 * call; and what the call stage sent for each structured_output mode
 * (read back from the mock's GET /mock/last-request).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include <glib/gstdio.h>
#include <string.h>

/* Not strict-mode material for OpenAI: no additionalProperties: false. */
#define SENTIMENT_SCHEMA \
  "{type: object, required: [sentiment], properties: {sentiment: {enum: [positive, negative, neutral]}}}"
/* Fit for OpenAI's strict mode. */
#define STRICT_SCHEMA \
  "{type: object, additionalProperties: false, required: [sentiment], " \
  "properties: {sentiment: {type: string, enum: [positive, negative, neutral]}}}"
#define LIST_SCHEMA "{type: array, items: {type: string}}"
#define LIST_JSON "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}"
#define SYSTEM_PROMPT "You classify reviews."
#define INSTRUCTION_START "Reply with only a JSON value that follows this JSON Schema"

static SluiceEngine *engine;

/* ---- harness ------------------------------------------------------------- */

/* An ok step answering @content, cut at the token limit if @length. */
static JsonNode *
ok_step (const char *content,
         gboolean    length)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  JsonObject *step = json_object_new ();

  json_object_set_string_member (step, "kind", "ok");
  json_object_set_string_member (step, "content", content);
  if (length)
    json_object_set_string_member (step, "finish_reason", "length");
  json_node_take_object (node, step);
  return node;
}

/* assemble, call (one attempt per target) and, unless @parse is NULL, a
 * parse stage with the block @parse. @targets is the call stage's
 * target or targets member, @call_extra more of its block (may be ""). */
static SluicePipeline *
load (const char *output,
      const char *targets,
      const char *call_extra,
      const char *parse)
{
  g_autofree char *yaml = g_strdup_printf (
    "name: t\n"
    "%s%s%s"
    "stages:\n"
    "  - assemble: {system: \"" SYSTEM_PROMPT "\", user: \"{{text}}\"}\n"
    "  - call: {%s, timeout: 5s, retry: {max_attempts: 1, base: 10ms}%s}\n"
    "%s%s%s",
    output != NULL ? "output: " : "", output != NULL ? output : "", output != NULL ? "\n" : "",
    targets, call_extra,
    parse != NULL ? "  - parse: " : "", parse != NULL ? parse : "", parse != NULL ? "\n" : "");

  return sluice_test_load_pipeline (engine, yaml);
}

static char *
openai_target (const char *url)
{
  return g_strdup_printf ("target: {provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", api_key: k}", url);
}

/* Runs @text through @pipeline. */
static SluiceContext *
run_text (SluicePipeline *pipeline,
          const char     *text)
{
  g_autoptr(JsonObject) input = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *json = NULL;

  json_object_set_string_member (input, "text", text);
  node = json_node_init_object (json_node_alloc (), input);
  json = sluice_json_to_string (node);
  return sluice_test_run (pipeline, json);
}

static JsonObject *
last_attempt (SluiceContext *context)
{
  JsonArray *attempts = sluice_context_get_attempts (context);

  g_assert_cmpuint (json_array_get_length (attempts), >, 0);
  return json_array_get_object_element (attempts, json_array_get_length (attempts) - 1);
}

/* The attempt's repairs, comma-separated; NULL when it records none. */
static char *
repairs_of (JsonObject *attempt)
{
  JsonNode *node = json_object_get_member (attempt, "repairs");
  GString *names;

  if (node == NULL)
    return NULL;
  g_assert_true (JSON_NODE_HOLDS_ARRAY (node));
  names = g_string_new (NULL);
  for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
    g_string_append_printf (names, "%s%s", i > 0 ? "," : "",
                            json_array_get_string_element (json_node_get_array (node), i));
  return g_string_free (names, FALSE);
}

/* ---- extraction and repair ------------------------------------------------- */

static const struct
{
  const char *marker;
  const char *content;
  gboolean    length;       /* finish reason length */
  gboolean    repair;
  const char *output;       /* NULL: fails with kind parse */
  const char *parsed_from;
  const char *repairs;      /* NULL: none recorded */
} answers[] = {
  { "<fenced>", "Here you go:\n```json\n{\"sentiment\": \"positive\"}\n```\nAnything else?", FALSE, FALSE,
    "{\"sentiment\":\"positive\"}", "fence", NULL },
  { "<plain-fence>", "```\n{\"sentiment\": \"neutral\"}\n```", FALSE, FALSE,
    "{\"sentiment\":\"neutral\"}", "fence", NULL },
  { "<prose>", "I think the answer is {\"sentiment\": \"negative\", \"why\": \"a } in a string\"}. Hope it helps!",
    FALSE, FALSE, "{\"sentiment\":\"negative\",\"why\":\"a } in a string\"}", "prose", NULL },
  { "<whole>", "  {\"sentiment\": \"positive\"}\n", FALSE, TRUE, "{\"sentiment\":\"positive\"}", "whole", NULL },
  { "<comma>", "{\"sentiment\": \"positive\", \"tags\": [\"a\", \"b\",],}", FALSE, TRUE,
    "{\"sentiment\":\"positive\",\"tags\":[\"a\",\"b\"]}", "whole", "trailing_comma" },
  { "<comma-strict>", "{\"sentiment\": \"positive\",}", FALSE, FALSE, NULL, NULL, NULL },
  { "<python>", "Answer: {'sentiment': 'negative', sure: True, note: None}", FALSE, TRUE,
    "{\"sentiment\":\"negative\",\"sure\":true,\"note\":null}", "prose", "single_quotes,unquoted_keys,python_literals" },
  { "<cut>", "```json\n{\"sentiment\": \"positive\", \"reasoning\": \"The battery lasts and the scr", TRUE, TRUE,
    "{\"sentiment\":\"positive\",\"reasoning\":\"The battery lasts and the scr\"}", "fence",
    "closed_string,closed_brackets" },
  /* Closing is a guess: never for an answer that was not cut. */
  { "<cut-but-stop>", "{\"sentiment\": \"positive\", \"reasoning\": \"The battery", FALSE, TRUE, NULL, NULL, NULL },
  /* A cut answer without repair fails; the array inside it is not the answer. */
  { "<cut-no-repair>", "{\"tags\": [\"a\", \"b\"], \"sentiment\": \"posi", TRUE, FALSE, NULL, NULL, NULL },
  { "<cut-key>", "{\"sentiment\": \"negative\", \"reas", TRUE, TRUE, "{\"sentiment\":\"negative\"}", "whole",
    "dropped_partial_member,closed_brackets" },
};

static void
test_answers (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *url = NULL;
  g_autofree char *target = NULL;
  g_autoptr(SluicePipeline) plain = NULL;
  g_autoptr(SluicePipeline) repairing = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (answers); i++)
    sluice_test_add_rule (rules, answers[i].marker, ok_step (answers[i].content, answers[i].length));
  url = sluice_test_mock_start_rules (rules, NULL);
  target = openai_target (url);
  plain = load (NULL, target, "", "{}");
  repairing = load (NULL, target, "", "{repair: true}");

  for (guint i = 0; i < G_N_ELEMENTS (answers); i++)
    {
      g_autoptr(SluiceContext) context = run_text (answers[i].repair ? repairing : plain, answers[i].marker);
      const GError *error = sluice_context_get_error (context);
      JsonObject *attempt = last_attempt (context);
      g_autofree char *repairs = repairs_of (attempt);

      g_test_message ("%s", answers[i].marker);
      g_assert_cmpstr (sluice_json_get_string (attempt, "finish_reason"), ==, answers[i].length ? "length" : "stop");
      if (answers[i].output == NULL)
        {
          g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_PARSE);
          g_assert_cmpstr (sluice_context_get_error_stage (context), ==, "parse");
          g_assert_null (sluice_context_get_output (context));
          g_assert_false (json_object_has_member (attempt, "parsed_from"));
          g_assert_null (repairs);
          continue;
        }
      g_assert_no_error ((GError *) error);
      sluice_test_assert_json (sluice_context_get_output (context), answers[i].output);
      g_assert_cmpstr (sluice_json_get_string (attempt, "parsed_from"), ==, answers[i].parsed_from);
      g_assert_cmpstr (repairs, ==, answers[i].repairs);
    }
  sluice_test_mock_stop ();
}

/* A cut answer is a cut answer in every wire format, streamed or not:
 * each says so in its own words (length, max_tokens, MAX_TOKENS). */
static void
test_cut_in_every_format (void)
{
  static const struct { const char *provider, *model, *base_path; } formats[] = {
    { "openai", "gpt-4o-mini", "/v1" },
    { "anthropic", "claude-haiku-4-5", "/v1" },
    { "gemini", "gemini-2.0-flash", "/v1beta" },
    { "openai-compatible", "llama3.2", "/v1" },
  };
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *url = NULL;

  sluice_test_add_rule (rules, "<cut>", ok_step ("Sure: {\"sentiment\": \"negative\", \"reasoning\": \"The screen crack", TRUE));
  url = sluice_test_mock_start_rules (rules, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    for (guint streamed = 0; streamed <= 1; streamed++)
      {
        g_autofree char *target = g_strdup_printf ("target: {provider: %s, model: %s, base_url: \"%s%s\", api_key: k}",
                                                   formats[i].provider, formats[i].model, url, formats[i].base_path);
        g_autoptr(SluicePipeline) pipeline = load (NULL, target, streamed ? ", stream: true" : "", "{repair: true}");
        g_autoptr(SluiceContext) context = run_text (pipeline, "<cut>");
        JsonObject *attempt = last_attempt (context);
        g_autofree char *repairs = repairs_of (attempt);

        g_test_message ("%s, stream: %u", formats[i].provider, streamed);
        g_assert_no_error ((GError *) sluice_context_get_error (context));
        g_assert_cmpstr (sluice_json_get_string (attempt, "finish_reason"), ==, "length");
        g_assert_true (json_object_get_boolean_member (attempt, "streamed") == (gboolean) streamed);
        sluice_test_assert_json (sluice_context_get_output (context),
                                 "{\"sentiment\":\"negative\",\"reasoning\":\"The screen crack\"}");
        g_assert_cmpstr (sluice_json_get_string (attempt, "parsed_from"), ==, "prose");
        g_assert_cmpstr (repairs, ==, "closed_string,closed_brackets");
      }
  sluice_test_mock_stop ();
}

/* The error says what went wrong and how to fix it, quoting at most the
 * excerpt's length of the answer. */
/* An answer over max_answer_bytes is refused unparsed (a parsed value
 * takes about a hundred times its text); parse before the call is a
 * load error. */
static void
test_limits_and_order (void)
{
  g_autoptr(GString) big = g_string_new ("[");
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *url = NULL;
  g_autofree char *target = NULL;
  g_autofree char *yaml = NULL;
  g_autoptr(SluicePipeline) small = NULL;
  g_autoptr(SluiceContext) context = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 600; i++)
    g_string_append (big, "{}, ");
  g_string_append (big, "{}]");
  sluice_test_add_rule (rules, "<big>", ok_step (big->str, FALSE));
  url = sluice_test_mock_start_rules (rules, NULL);
  target = openai_target (url);
  small = load (NULL, target, "", "{max_answer_bytes: 1024, correction_retries: 0}");
  context = run_text (small, "<big>");
  g_assert_error ((GError *) sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_PARSE);
  g_assert_cmpstr (sluice_context_get_error (context)->message, ==,
                   "the answer of 2404 bytes is larger than max_answer_bytes (1024)");
  sluice_test_mock_stop ();

  yaml = g_strdup_printf ("name: t\nstages:\n  - assemble: {user: hi}\n  - parse: {}\n  - call: {%s}\n", target);
  {
    g_autofree char *path = sluice_test_write_file ("p.yaml", yaml);
    g_autoptr(SluicePipeline) wrong = sluice_pipeline_new_from_file (engine, path, &error);

    g_assert_null (wrong);
    sluice_test_assert_contains (error->message, "stage 'parse' must come after the call stage (stage 3): it reads the answer the call gets");
  }
}

static void
test_errors (void)
{
  g_autoptr(GString) huge = g_string_new ("BEGIN ");
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *url = NULL;
  g_autofree char *target = NULL;
  g_autoptr(SluicePipeline) plain = NULL;
  g_autoptr(SluicePipeline) quiet = NULL;
  g_autoptr(SluicePipeline) objects = NULL;

  for (guint i = 0; i < 5000; i++)
    g_string_append (huge, "words ");
  g_string_append (huge, "SECRET-TAIL");
  sluice_test_add_rule (rules, "<huge>", ok_step (huge->str, FALSE));
  sluice_test_add_rule (rules, "<comma>", ok_step ("{\"sentiment\": \"positive\",}", FALSE));
  sluice_test_add_rule (rules, "<cut>", ok_step ("{\"sentiment\": \"posi", TRUE));
  sluice_test_add_rule (rules, "<quotes>", ok_step ("{'sentiment': 'positive' /* x */}", FALSE));
  sluice_test_add_rule (rules, "<nan>", ok_step ("NaN", FALSE));
  sluice_test_add_rule (rules, "<bigint>", ok_step ("{\"n\": -9223372036854775809}", FALSE));
  sluice_test_add_rule (rules, "<octal>", ok_step ("{\"zip\": 02134}", FALSE));
  sluice_test_add_rule (rules, "<nul>", ok_step ("{\"a\": \"x\\u0000y\"}", FALSE));
  url = sluice_test_mock_start_rules (rules, NULL);
  target = openai_target (url);
  plain = load (NULL, target, "", "{}");
  quiet = load (NULL, target, "", "{error_excerpt: 0}");
  objects = load (SENTIMENT_SCHEMA, target, ", structured_output: off", "{error_excerpt: 0}");

  {
    g_autoptr(SluiceContext) context = run_text (plain, "<huge>");
    const GError *error = sluice_context_get_error (context);
    /* Repair would not help: no hint that it would. */
    g_autofree char *expected = g_strdup_printf ("the answer (%zu bytes, finish reason stop) holds no JSON value: "
                                                 "BEGIN words words", huge->len);

    g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_PARSE);
    g_assert_true (g_str_has_prefix (error->message, expected));
    g_assert_null (strstr (error->message, "SECRET-TAIL"));
    /* 200 characters of the answer, and the mark of the cut. */
    g_assert_cmpuint (g_utf8_strlen (error->message, -1), ==, strlen (expected) - strlen ("BEGIN words words") + 201);
    g_assert_true (g_str_has_suffix (error->message, "…"));
  }
  {
    g_autoptr(SluiceContext) context = run_text (plain, "<cut>");

    g_assert_cmpstr (sluice_context_get_error (context)->message, ==,
                     "the answer (19 bytes, finish reason length) holds no JSON value; it was cut at "
                     "the token limit: raise max_tokens, or set repair: true to close it: {\"sentiment\": \"posi");
  }
  {
    g_autoptr(SluiceContext) context = run_text (quiet, "<comma>");

    g_assert_cmpstr (sluice_context_get_error (context)->message, ==,
                     "the answer (26 bytes, finish reason stop) holds no JSON value; repair: true "
                     "would fix it (trailing_comma)");
  }
  {
    g_autoptr(SluiceContext) context = run_text (quiet, "<quotes>");

    g_assert_cmpstr (sluice_context_get_error (context)->message, ==,
                     "the answer (33 bytes, finish reason stop) holds no JSON value; repair: true "
                     "would fix it (single_quotes, comments)");
  }
  {
    g_autoptr(SluiceContext) context = run_text (quiet, "<nan>");

    g_assert_cmpstr (sluice_context_get_error (context)->message, ==,
                     "the answer (3 bytes, finish reason stop) holds no JSON value");
  }
  {
    /* An object schema: a scalar would not do. */
    g_autoptr(SluiceContext) context = run_text (objects, "<nan>");

    g_assert_cmpstr (sluice_context_get_error (context)->message, ==,
                     "the answer (3 bytes, finish reason stop) holds no JSON object or array");
  }
  /* JSON that json-glib would change (wrap, octal, cut at the NUL) is
   * refused, and the message says why: with repair too */
  {
    const struct { const char *marker; const char *message; } refused[] = {
      { "<bigint>", "the answer (27 bytes, finish reason stop) holds JSON that cannot be kept as it is: the "
                    "integer -9223372036854775809 (at byte 6) does not fit in 64 bits (-9223372036854775808 "
                    "to 9223372036854775807); send it as a string" },
      { "<octal>", "the answer (14 bytes, finish reason stop) holds JSON that cannot be kept as it is: 02134 "
                   "(at byte 8) is not a JSON number: a number may not start with 0 (json-glib would read it "
                   "as octal)" },
      { "<nul>", "the answer (17 bytes, finish reason stop) holds JSON that cannot be kept as it is: the string "
                 "at byte 6 holds a NUL character (at byte 8), which sluice cannot keep" },
    };
    g_autoptr(SluicePipeline) repairing = load (NULL, target, "", "{repair: true}");

    for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
      {
        g_autoptr(SluiceContext) context = run_text (plain, refused[i].marker);
        g_autoptr(SluiceContext) repaired = run_text (repairing, refused[i].marker);

        g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_PARSE);
        g_assert_cmpstr (sluice_context_get_error (context)->message, ==, refused[i].message);
        g_assert_null (sluice_context_get_output (repaired));
        g_assert_cmpstr (sluice_context_get_error (repaired)->message, ==, refused[i].message);
      }
  }
  sluice_test_mock_stop ();
}

/* correction_retries: the model is told what was wrong and asked again;
 * the second request carries the first answer and the feedback. */
static void
test_correction (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autoptr(JsonArray) sequence = json_array_new ();
  JsonObject *rule = json_object_new ();
  g_autofree char *url = NULL;
  g_autofree char *target = NULL;
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(SluiceContext) context = NULL;
  g_autoptr(JsonObject) body = NULL;
  JsonArray *messages;
  guint n;

  json_array_add_element (sequence, ok_step ("{\"sentiment\": \"positive\", \"reasoning\": \"cut h", TRUE));
  json_object_set_string_member (rule, "match", "<twice>");
  json_object_set_array_member (rule, "sequence", json_array_ref (sequence));
  json_object_set_member (rule, "then", ok_step ("{\"sentiment\": \"positive\"}", FALSE));
  json_array_add_object_element (rules, rule);
  url = sluice_test_mock_start_rules (rules, NULL);
  target = openai_target (url);
  pipeline = load (NULL, target, "", "{correction_retries: 1}");

  context = run_text (pipeline, "<twice>");
  g_assert_no_error ((GError *) sluice_context_get_error (context));
  sluice_test_assert_json (sluice_context_get_output (context), "{\"sentiment\":\"positive\"}");
  g_assert_cmpuint (json_array_get_length (sluice_context_get_attempts (context)), ==, 2);
  g_assert_true (json_object_get_boolean_member (json_array_get_object_element (sluice_context_get_attempts (context), 0),
                                                 "wasted"));

  body = sluice_test_mock_last_request ();
  messages = json_object_get_array_member (body, "messages");
  n = json_array_get_length (messages);
  g_assert_cmpuint (n, ==, 4);
  g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (messages, 2), "role"), ==, "assistant");
  g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (messages, 2), "content"), ==,
                   "{\"sentiment\": \"positive\", \"reasoning\": \"cut h");
  g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (messages, 3), "content"), ==,
                   "Your answer was cut off before its JSON was complete. Reply again with only the JSON, "
                   "shorter, no prose and no Markdown.");
  sluice_test_mock_stop ();
}

/* A rule answering @first, then @then for every later request. */
static void
add_sequence_rule (JsonArray  *rules,
                   const char *marker,
                   JsonNode   *first,
                   JsonNode   *then)
{
  JsonObject *rule = json_object_new ();
  JsonArray *sequence = json_array_new ();

  json_array_add_element (sequence, first);
  json_object_set_string_member (rule, "match", marker);
  json_object_set_array_member (rule, "sequence", sequence);
  json_object_set_member (rule, "then", then);
  json_array_add_object_element (rules, rule);
}

/* The feedback the model was last sent: the last message of the last request. */
static char *
last_feedback (void)
{
  g_autoptr(JsonObject) body = sluice_test_mock_last_request ();
  JsonArray *messages = json_object_get_array_member (body, "messages");

  return g_strdup (sluice_json_get_string (json_array_get_object_element (messages, json_array_get_length (messages) - 1),
                                           "content"));
}

#define PERSON_BROKEN \
  "{\"name\": \"Ada Lovelace\", \"kind\": \"person\", \"spouse\": {\"name\": \"William King\", \"kind\": \"person\"},}"
#define PERSON_JSON \
  "{\"name\":\"Ada Lovelace\",\"kind\":\"person\",\"spouse\":{\"name\":\"William King\",\"kind\":\"person\"}}"
#define PERSON_SCHEMA "{type: object, required: [name, kind], properties: {name: {type: string}, kind: {enum: [person]}}}"

/* A clean object nested in a broken one is not the answer: with repair
 * the outer one is repaired; without, the model is told what was wrong
 * and asked again, and never the inner object taken. */
static void
test_nested_answer (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *url = NULL;
  g_autofree char *target = NULL;
  g_autoptr(SluicePipeline) repairing = NULL;
  g_autoptr(SluicePipeline) plain = NULL;
  g_autoptr(SluicePipeline) once = NULL;

  sluice_test_add_rule (rules, "<broken>", ok_step (PERSON_BROKEN, FALSE));
  add_sequence_rule (rules, "<twice>", ok_step (PERSON_BROKEN, FALSE), ok_step (PERSON_JSON, FALSE));
  url = sluice_test_mock_start_rules (rules, NULL);
  target = openai_target (url);
  repairing = load (PERSON_SCHEMA, target, ", structured_output: off", "{repair: true}\n  - validate: {}");
  plain = load (PERSON_SCHEMA, target, ", structured_output: off", "{correction_retries: 0}\n  - validate: {}");
  once = load (PERSON_SCHEMA, target, ", structured_output: off", "{correction_retries: 1}\n  - validate: {}");

  {
    g_autoptr(SluiceContext) context = run_text (repairing, "<broken>");
    JsonObject *attempt = last_attempt (context);
    g_autofree char *repairs = repairs_of (attempt);

    g_assert_no_error ((GError *) sluice_context_get_error (context));
    sluice_test_assert_json (sluice_context_get_output (context), PERSON_JSON);
    g_assert_cmpstr (sluice_json_get_string (attempt, "parsed_from"), ==, "whole");
    g_assert_cmpstr (repairs, ==, "trailing_comma");
    /* a repaired answer is not a clean first try */
    g_assert_cmpint (sluice_context_get_compliance (context), ==, SLUICE_COMPLIANCE_VALID_AFTER_REPAIR);
  }
  {
    g_autoptr(SluiceContext) context = run_text (plain, "<broken>");

    g_assert_error ((GError *) sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_PARSE);
    g_assert_cmpstr (sluice_context_get_error_stage (context), ==, "parse");
    g_assert_null (sluice_context_get_output (context));
  }
  {
    g_autoptr(SluiceContext) context = run_text (once, "<twice>");
    g_autofree char *feedback = last_feedback ();

    g_assert_no_error ((GError *) sluice_context_get_error (context));
    sluice_test_assert_json (sluice_context_get_output (context), PERSON_JSON);
    g_assert_cmpuint (json_array_get_length (sluice_context_get_attempts (context)), ==, 2);
    g_assert_cmpstr (feedback, ==, "Your answer is not valid JSON: a trailing comma. Reply again with strict JSON "
                                   "only (double-quoted strings, no comments, no trailing commas), no prose and no "
                                   "Markdown.");
    g_assert_cmpint (sluice_context_get_compliance (context), ==, SLUICE_COMPLIANCE_VALID_AFTER_CORRECTION);
  }
  sluice_test_mock_stop ();
}

/* Reasoning and examples before the answer: the value that fits the
 * output schema is taken, else the last, and the attempt says which. */
static void
test_answer_amid_reasoning (void)
{
  static const char reply[] =
    "<think>Maybe {\"sentiment\": \"neutral\"}?</think>An answer looks like {\"label\": \"x\"}. "
    "Mine: {\"sentiment\": \"negative\"}. Not {\"other\": 1}.";
  g_autofree char *url = sluice_test_mock_start_with_rules ("<reasoned>", ok_step (reply, FALSE), NULL);
  g_autofree char *target = openai_target (url);
  g_autoptr(SluicePipeline) schema = load (SENTIMENT_SCHEMA, target, ", structured_output: off", "{}");
  g_autoptr(SluicePipeline) none = load (NULL, target, "", "{}");

  {
    g_autoptr(SluiceContext) context = run_text (schema, "<reasoned>");
    JsonObject *attempt = last_attempt (context);

    g_assert_no_error ((GError *) sluice_context_get_error (context));
    sluice_test_assert_json (sluice_context_get_output (context), "{\"sentiment\":\"negative\"}");
    g_assert_cmpstr (sluice_json_get_string (attempt, "parsed_from"), ==, "prose");
    g_assert_cmpstr (sluice_json_get_string (attempt, "candidate"), ==, "2 of 3");
  }
  {
    g_autoptr(SluiceContext) context = run_text (none, "<reasoned>");
    JsonObject *attempt = last_attempt (context);

    g_assert_no_error ((GError *) sluice_context_get_error (context));
    sluice_test_assert_json (sluice_context_get_output (context), "{\"other\":1}");
    g_assert_cmpstr (sluice_json_get_string (attempt, "candidate"), ==, "3 of 3");
  }
  sluice_test_mock_stop ();
}

/* Scalar output schemas: a JSON scalar is the answer, and for a schema
 * of strings so is one line of bare text. */
static void
test_scalar_answers (void)
{
  static const struct
  {
    const char *marker, *content, *schema;
    const char *output;        /* NULL: fails with kind parse */
    const char *parsed_from;
  } cases[] = {
    { "<bare>", " spam\n", "{enum: [spam, ham]}", "\"spam\"", "bare_text" },
    { "<quoted>", "\"ham\"", "{enum: [spam, ham]}", "\"ham\"", "whole" },
    { "<const>", "yes", "{const: \"yes\"}", "\"yes\"", "bare_text" },
    { "<string>", "Paris", "{type: string}", "\"Paris\"", "bare_text" },
    { "<integer>", "42\n", "{type: integer}", "42", "whole" },
    /* A number is not bare text, and bare text is not taken for a number. */
    { "<forty-two>", "forty-two", "{type: integer}", NULL, NULL },
    { "<two-lines>", "spam\nham", "{enum: [spam, ham]}", NULL, NULL },
  };
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *url = NULL;
  g_autofree char *target = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    sluice_test_add_rule (rules, cases[i].marker, ok_step (cases[i].content, FALSE));
  url = sluice_test_mock_start_rules (rules, NULL);
  target = openai_target (url);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SluicePipeline) pipeline = load (cases[i].schema, target, ", structured_output: off",
                                                 "{correction_retries: 0, error_excerpt: 0}\n  - validate: {correction_retries: 0}");
      g_autoptr(SluiceContext) context = run_text (pipeline, cases[i].marker);

      g_test_message ("%s", cases[i].marker);
      if (cases[i].output == NULL)
        {
          g_autofree char *expected = g_strdup_printf ("the answer (%zu bytes, finish reason stop) holds no JSON value",
                                                       strlen (cases[i].content));

          g_assert_error ((GError *) sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_PARSE);
          g_assert_cmpstr (sluice_context_get_error (context)->message, ==, expected);
          continue;
        }
      g_assert_no_error ((GError *) sluice_context_get_error (context));
      sluice_test_assert_json (sluice_context_get_output (context), cases[i].output);
      g_assert_cmpstr (sluice_json_get_string (last_attempt (context), "parsed_from"), ==, cases[i].parsed_from);
    }
  sluice_test_mock_stop ();
}

/* A cut answer that was closed and then breaks the schema: the model is
 * told it was cut off (and asked for less), not only what is missing. */
static void
test_cut_then_invalid (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *url = NULL;
  g_autofree char *target = NULL;
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(SluiceContext) context = NULL;
  g_autofree char *feedback = NULL;

  add_sequence_rule (rules, "<cut>", ok_step ("{\"reasoning\": \"long and longer\", \"senti", TRUE),
                     ok_step ("{\"sentiment\": \"positive\"}", FALSE));
  sluice_test_add_rule (rules, "<always-cut>", ok_step ("{\"reasoning\": \"long and longer\", \"senti", TRUE));
  url = sluice_test_mock_start_rules (rules, NULL);
  target = openai_target (url);
  pipeline = load (SENTIMENT_SCHEMA, target, ", structured_output: off", "{repair: true}\n  - validate: {}");
  context = run_text (pipeline, "<cut>");
  feedback = last_feedback ();

  g_assert_no_error ((GError *) sluice_context_get_error (context));
  sluice_test_assert_json (sluice_context_get_output (context), "{\"sentiment\":\"positive\"}");
  g_assert_cmpuint (json_array_get_length (sluice_context_get_attempts (context)), ==, 2);
  g_assert_cmpstr (feedback, ==, "Your answer was cut off before its JSON was complete, and what was left does not "
                                 "satisfy the required JSON Schema:\n- /: missing required property 'sentiment'\n"
                                 "Reply again with only the JSON, shorter, no prose and no Markdown.");

  /* No correction left: the error says the answer was cut. */
  {
    g_autoptr(SluicePipeline) once = load (SENTIMENT_SCHEMA, target, ", structured_output: off",
                                           "{repair: true}\n  - validate: {correction_retries: 0}");
    g_autoptr(SluiceContext) failed = run_text (once, "<always-cut>");

    g_assert_error ((GError *) sluice_context_get_error (failed), SLUICE_ERROR, SLUICE_ERROR_VALIDATION);
    g_assert_cmpstr (sluice_context_get_error (failed)->message, ==,
                     "the answer (cut at the token limit, and closed) does not match the output schema: "
                     "/: missing required property 'sentiment'");
  }
  sluice_test_mock_stop ();
}

/* A model that answers with a tool call and some prose: the arguments
 * are the answer. */
static void
test_tool_call (void)
{
  static const char body[] =
    "{\"id\": \"chatcmpl-1\", \"object\": \"chat.completion\", \"model\": \"gpt-4o-mini\","
    " \"choices\": [{\"index\": 0, \"finish_reason\": \"tool_calls\", \"message\": {\"role\": \"assistant\","
    " \"content\": \"I will answer with the tool {not json}.\", \"tool_calls\": [{\"id\": \"call_1\","
    " \"type\": \"function\", \"function\": {\"name\": \"classify\","
    " \"arguments\": \"{\\\"sentiment\\\": \\\"neutral\\\", \\\"tags\\\": [1,],}\"}}]}}],"
    " \"usage\": {\"prompt_tokens\": 10, \"completion_tokens\": 5, \"total_tokens\": 15}}";
  g_autofree char *url = sluice_test_mock_start_with_rules ("<tool>", sluice_test_status_step (200, body, "application/json", NULL),
                                                            NULL);
  g_autofree char *target = openai_target (url);
  g_autoptr(SluicePipeline) pipeline = load (NULL, target, "", "{repair: true}");
  g_autoptr(SluiceContext) context = run_text (pipeline, "<tool>");
  JsonObject *attempt = last_attempt (context);
  g_autofree char *repairs = repairs_of (attempt);

  g_assert_no_error ((GError *) sluice_context_get_error (context));
  sluice_test_assert_json (sluice_context_get_output (context), "{\"sentiment\":\"neutral\",\"tags\":[1]}");
  g_assert_cmpstr (sluice_json_get_string (attempt, "finish_reason"), ==, "tool_call");
  g_assert_cmpstr (sluice_json_get_string (attempt, "parsed_from"), ==, "tool_call");
  g_assert_cmpstr (repairs, ==, "trailing_comma");
  sluice_test_mock_stop ();
}

/* A target with tools of its own, not forced: a call to one is the model
 * asking for a tool sluice does not run, not an answer; forced with
 * tool_choice, its arguments are the answer. */
static void
test_own_tool_call (void)
{
  static const char body[] =
    "{\"id\": \"chatcmpl-1\", \"object\": \"chat.completion\", \"model\": \"gpt-4o-mini\","
    " \"choices\": [{\"index\": 0, \"finish_reason\": \"tool_calls\", \"message\": {\"role\": \"assistant\","
    " \"content\": null, \"tool_calls\": [{\"id\": \"call_1\","
    " \"type\": \"function\", \"function\": {\"name\": \"search\","
    " \"arguments\": \"{\\\"query\\\": \\\"rm -rf /\\\"}\"}}]}}],"
    " \"usage\": {\"prompt_tokens\": 10, \"completion_tokens\": 5, \"total_tokens\": 15}}";
  static const char tools[] =
    "tools: [{type: function, function: {name: search, parameters: {type: object}}}]";
  g_autofree char *url = sluice_test_mock_start_with_rules ("<tool>", sluice_test_status_step (200, body, "application/json", NULL),
                                                            NULL);
  g_autofree char *auto_target = g_strdup_printf ("target: {provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", "
                                                  "api_key: k, %s}", url, tools);
  g_autofree char *forced_target = g_strdup_printf ("target: {provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", "
                                                    "api_key: k, %s, tool_choice: required}", url, tools);
  g_autoptr(SluicePipeline) asked = load (NULL, auto_target, "", "{correction_retries: 0}");
  g_autoptr(SluicePipeline) forced = load (NULL, forced_target, "", "{}");
  g_autoptr(SluiceContext) refused = run_text (asked, "<tool>");
  g_autoptr(SluiceContext) taken = run_text (forced, "<tool>");

  g_assert_error ((GError *) sluice_context_get_error (refused), SLUICE_ERROR, SLUICE_ERROR_PARSE);
  g_assert_cmpstr (sluice_context_get_error (refused)->message, ==,
                   "the model called its tool 'search' instead of answering: sluice does not run tools "
                   "(force one with tool_choice to take its arguments as the answer)");
  g_assert_no_error ((GError *) sluice_context_get_error (taken));
  sluice_test_assert_json (sluice_context_get_output (taken), "{\"query\":\"rm -rf /\"}");
  sluice_test_mock_stop ();
}

/* The sqlite ledger keeps, per attempt, how the shape was asked for,
 * where the JSON was found and the repairs made. */
static void
test_ledger (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *url = NULL;
  g_autofree char *target = NULL;
  g_autofree char *ledger = sluice_test_write_file ("ledger.db", "");
  g_autofree char *parse = NULL;
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) rows = NULL;
  JsonObject *row;

  g_assert_cmpint (g_unlink (ledger), ==, 0);
  sluice_test_add_rule (rules, "<clean>", ok_step ("{\"sentiment\": \"positive\"}", FALSE));
  sluice_test_add_rule (rules, "<comma>", ok_step ("{'sentiment': \"positive\",}", FALSE));
  url = sluice_test_mock_start_rules (rules, NULL);
  target = openai_target (url);
  parse = g_strdup_printf ("{repair: true}\n  - log: {sinks: [{sqlite: {path: \"%s\"}}]}", ledger);
  pipeline = load (SENTIMENT_SCHEMA, target, "", parse);
  g_object_unref (run_text (pipeline, "<clean>"));
  g_object_unref (run_text (pipeline, "<comma>"));
  sluice_test_flush (pipeline);

  rows = sluice_db_query (ledger, "SELECT outcome, structured_output, parsed_from, repairs FROM attempts ORDER BY id",
                          &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (rows), ==, 2);
  row = json_array_get_object_element (rows, 0);
  g_assert_cmpstr (sluice_json_get_string (row, "outcome"), ==, "ok");
  g_assert_cmpstr (sluice_json_get_string (row, "structured_output"), ==, "prompt");
  g_assert_cmpstr (sluice_json_get_string (row, "parsed_from"), ==, "whole");
  g_assert_true (json_object_get_null_member (row, "repairs"));
  row = json_array_get_object_element (rows, 1);
  g_assert_cmpstr (sluice_json_get_string (row, "parsed_from"), ==, "whole");
  g_assert_cmpstr (sluice_json_get_string (row, "repairs"), ==, "[\"trailing_comma\",\"single_quotes\"]");
  sluice_test_mock_stop ();
}

/* ---- structured output ------------------------------------------------------ */

/* The system message the mock last received (for Anthropic its `system`,
 * for Gemini its systemInstruction's text). */
static const char *
sent_system (JsonObject *body)
{
  if (json_object_has_member (body, "messages") && !json_object_has_member (body, "system"))
    {
      JsonObject *first = json_array_get_object_element (json_object_get_array_member (body, "messages"), 0);

      return g_strcmp0 (sluice_json_get_string (first, "role"), "system") == 0
             ? sluice_json_get_string (first, "content") : NULL;
    }
  if (json_object_has_member (body, "system"))
    return sluice_json_get_string (body, "system");
  if (json_object_has_member (body, "systemInstruction"))
    {
      JsonObject *instruction = json_object_get_object_member (body, "systemInstruction");
      JsonArray *parts = json_object_get_array_member (instruction, "parts");

      return sluice_json_get_string (json_array_get_object_element (parts, 0), "text");
    }
  return NULL;
}

typedef enum { SENT_PLAIN, SENT_INSTRUCTION, SENT_NATIVE } Sent;

static void
assert_sent (const char *provider,
             Sent        expected,
             const char *schema_json)
{
  g_autoptr(JsonObject) body = sluice_test_mock_last_request ();
  const char *system = sent_system (body);
  gboolean native;

  if (g_str_equal (provider, "anthropic"))
    native = json_object_has_member (body, "tool_choice") &&
             g_strcmp0 (sluice_json_get_string (json_object_get_object_member (body, "tool_choice"), "name"), "answer") == 0;
  else if (g_str_equal (provider, "gemini"))
    native = json_object_has_member (body, "generationConfig") &&
             json_object_has_member (json_object_get_object_member (body, "generationConfig"), "responseJsonSchema");
  else
    {
      native = json_object_has_member (body, "response_format");
      if (native)
        {
          JsonObject *format = json_object_get_object_member (body, "response_format");
          JsonObject *json_schema = json_object_get_object_member (format, "json_schema");

          g_assert_cmpstr (sluice_json_get_string (format, "type"), ==, "json_schema");
          g_assert_true (json_object_get_boolean_member (json_schema, "strict"));
        }
    }
  g_assert_true (native == (expected == SENT_NATIVE));
  if (expected == SENT_INSTRUCTION)
    {
      g_autofree char *instruction = g_strconcat (SYSTEM_PROMPT "\n\n" INSTRUCTION_START ": no prose before or "
                                                  "after it, no Markdown code fences.\nJSON Schema: ",
                                                  schema_json, NULL);

      g_assert_cmpstr (system, ==, instruction);
    }
  else
    g_assert_cmpstr (system, ==, SYSTEM_PROMPT);
}

#define SENTIMENT_JSON "{\"type\":\"object\",\"required\":[\"sentiment\"],\"properties\":{\"sentiment\":{\"enum\":[\"positive\",\"negative\",\"neutral\"]}}}"

static void
test_structured_modes (void)
{
  static const struct
  {
    const char *provider, *model, *base_path;
    const char *schema;
    const char *call_extra;     /* the stage's structured_output, or "" */
    const char *target_extra;   /* the target's own, or "" */
    const char *parse;          /* NULL: no parse stage */
    Sent        sent;
    const char *recorded;       /* the attempt's structured_output; NULL: none */
  } cases[] = {
    /* The default with an output schema and a parse stage: auto. */
    { "openai", "gpt-4o-mini", "/v1", SENTIMENT_SCHEMA, "", "", "{}", SENT_INSTRUCTION, "prompt" },
    { "openai", "gpt-4o-mini", "/v1", STRICT_SCHEMA, "", "", "{}", SENT_NATIVE, "native" },
    { "anthropic", "claude-haiku-4-5", "/v1", SENTIMENT_SCHEMA, "", "", "{}", SENT_NATIVE, "native" },
    { "gemini", "gemini-2.0-flash", "/v1beta", SENTIMENT_SCHEMA, "", "", "{}", SENT_NATIVE, "native" },
    { "openai-compatible", "llama3.2", "/v1", STRICT_SCHEMA, "", "", "{}", SENT_INSTRUCTION, "prompt" },
    { "openai-compatible", "llama3.2", "/v1", STRICT_SCHEMA, "", ", structured_output: native", "{}",
      SENT_NATIVE, "native" },
    /* Without a parse stage (the answer stays text), or without a schema: off. */
    { "openai", "gpt-4o-mini", "/v1", STRICT_SCHEMA, "", "", NULL, SENT_PLAIN, NULL },
    { "anthropic", "claude-haiku-4-5", "/v1", NULL, "", "", "{}", SENT_PLAIN, NULL },
    /* Asked for. */
    { "openai", "gpt-4o-mini", "/v1", STRICT_SCHEMA, ", structured_output: off", "", "{}", SENT_PLAIN, NULL },
    { "anthropic", "claude-haiku-4-5", "/v1", SENTIMENT_SCHEMA, ", structured_output: prompt", "", "{}",
      SENT_INSTRUCTION, "prompt" },
    { "gemini", "gemini-2.0-flash", "/v1beta", SENTIMENT_SCHEMA, ", structured_output: prompt", "", NULL,
      SENT_INSTRUCTION, "prompt" },
    /* A target with tools of its own keeps them: auto asks by the prompt. */
    { "anthropic", "claude-haiku-4-5", "/v1", SENTIMENT_SCHEMA, "",
      ", tools: [{name: lookup, description: Look a word up, input_schema: {type: object}}]", "{}",
      SENT_INSTRUCTION, "prompt" },
    /* A list at the root: no forced tool for Anthropic (its input is an
     * object), no strict mode for OpenAI; Gemini takes it. */
    { "anthropic", "claude-haiku-4-5", "/v1", LIST_SCHEMA, ", structured_output: auto", "", NULL, SENT_INSTRUCTION, "prompt" },
    { "openai", "gpt-4o-mini", "/v1", LIST_SCHEMA, ", structured_output: auto", "", NULL, SENT_INSTRUCTION, "prompt" },
    { "gemini", "gemini-2.0-flash", "/v1beta", LIST_SCHEMA, ", structured_output: auto", "", NULL, SENT_NATIVE, "native" },
  };
  g_autofree char *url = sluice_test_mock_start ("--seed", "1", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *target = g_strdup_printf ("target: {provider: %s, model: %s, base_url: \"%s%s\", api_key: k%s}",
                                                 cases[i].provider, cases[i].model, url, cases[i].base_path,
                                                 cases[i].target_extra);
      g_autoptr(SluicePipeline) pipeline = load (cases[i].schema, target, cases[i].call_extra, cases[i].parse);
      g_autoptr(SluiceContext) context = run_text (pipeline, "I love it");
      JsonArray *messages = sluice_context_get_messages (context);

      g_test_message ("case %u: %s", i, cases[i].provider);
      g_assert_no_error ((GError *) sluice_context_get_error (context));
      assert_sent (cases[i].provider, cases[i].sent,
                   g_str_equal (cases[i].schema ?: "", SENTIMENT_SCHEMA) ? SENTIMENT_JSON
                   : g_str_equal (cases[i].schema ?: "", LIST_SCHEMA) ? LIST_JSON
                   : "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"sentiment\"],"
                     "\"properties\":{\"sentiment\":{\"type\":\"string\",\"enum\":[\"positive\",\"negative\",\"neutral\"]}}}");
      g_assert_cmpstr (sluice_json_get_string (last_attempt (context), "structured_output"), ==, cases[i].recorded);
      if (strstr (cases[i].target_extra, "tools") != NULL)
        {
          g_autoptr(JsonObject) body = sluice_test_mock_last_request ();
          JsonArray *tools = json_object_get_array_member (body, "tools");

          g_assert_cmpuint (json_array_get_length (tools), ==, 1);
          g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (tools, 0), "name"), ==, "lookup");
        }
      /* The context keeps the messages the pipeline made. */
      g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (messages, 0), "content"), ==, SYSTEM_PROMPT);
      if (cases[i].parse != NULL)
        g_assert_cmpstr (sluice_json_get_string (json_node_get_object (sluice_context_get_output (context)), "sentiment"),
                         ==, "positive");
    }
  sluice_test_mock_stop ();
}

/* With a fallback, each attempt is told the shape its own target's way:
 * the first (openai-compatible, failing) by the instruction, the second
 * (anthropic) natively, without the instruction. */
static void
test_structured_per_target (void)
{
  g_autofree char *url = sluice_test_mock_start_with_rules ("\"model\":\"llama3.2\"",
                                                            sluice_test_status_step (500, NULL, NULL, NULL), NULL);
  g_autofree char *targets = g_strdup_printf (
    "targets: [{provider: openai-compatible, model: llama3.2, base_url: \"%s/v1\"},"
    " {provider: anthropic, model: claude-haiku-4-5, base_url: \"%s/v1\", api_key: k}]", url, url);
  g_autoptr(SluicePipeline) pipeline = load (SENTIMENT_SCHEMA, targets, "", "{}");
  g_autoptr(SluiceContext) context = run_text (pipeline, "I love it");
  JsonArray *attempts = sluice_context_get_attempts (context);
  g_autoptr(JsonObject) stats = NULL;

  g_assert_no_error ((GError *) sluice_context_get_error (context));
  g_assert_cmpuint (json_array_get_length (attempts), ==, 2);
  g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (attempts, 0), "outcome"), ==, "error");
  g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (attempts, 0), "structured_output"), ==, "prompt");
  g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (attempts, 1), "structured_output"), ==, "native");
  assert_sent ("anthropic", SENT_NATIVE, NULL);
  g_assert_cmpstr (sluice_json_get_string (json_node_get_object (sluice_context_get_output (context)), "sentiment"),
                   ==, "positive");
  /* Anthropic's answer is the forced tool's input. */
  g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (attempts, 1), "parsed_from"), ==, "tool_call");
  stats = sluice_test_mock_stats ();
  g_assert_cmpint (json_object_get_int_member (stats, "requests"), ==, 2);
  sluice_test_mock_stop ();
}

static void
test_structured_config_errors (void)
{
  static const struct { const char *yaml, *message; } cases[] = {
    { "name: t\nstages:\n  - call: {target: {provider: openai, model: m, api_key: k}, structured_output: auto}\n",
      "structured_output: auto needs the pipeline's output schema" },
    { "name: t\nstages:\n  - call: {target: {provider: openai, model: m, api_key: k, structured_output: prompt}}\n",
      "structured_output: prompt needs the pipeline's output schema" },
    { "name: t\noutput: {type: object}\nstages:\n  - call: {target: {provider: openai, model: m, api_key: k}, structured_output: json}\n",
      "structured_output" },
    { "name: t\nstages:\n  - call: {target: {provider: openai, model: m, api_key: k}}\n  - parse: {repair: maybe}\n",
      "repair" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = sluice_test_write_file ("pipeline.yaml", cases[i].yaml);
      g_autoptr(SluicePipeline) pipeline = NULL;
      g_autoptr(GError) error = NULL;

      pipeline = sluice_pipeline_new_from_file (engine, path, &error);
      g_assert_null (pipeline);
      g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_PIPELINE);
      sluice_test_assert_contains (error->message, cases[i].message);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  engine = sluice_test_provider_setup (NULL);

  g_test_add_func ("/parse/answers", test_answers);
  g_test_add_func ("/parse/cut-in-every-format", test_cut_in_every_format);
  g_test_add_func ("/parse/errors", test_errors);
  g_test_add_func ("/parse/limits-and-order", test_limits_and_order);
  g_test_add_func ("/parse/correction", test_correction);
  g_test_add_func ("/parse/tool-call", test_tool_call);
  g_test_add_func ("/parse/own-tool-call", test_own_tool_call);
  g_test_add_func ("/parse/nested-answer", test_nested_answer);
  g_test_add_func ("/parse/answer-amid-reasoning", test_answer_amid_reasoning);
  g_test_add_func ("/parse/scalar-answers", test_scalar_answers);
  g_test_add_func ("/parse/cut-then-invalid", test_cut_then_invalid);
  g_test_add_func ("/parse/ledger", test_ledger);
  g_test_add_func ("/parse/structured-modes", test_structured_modes);
  g_test_add_func ("/parse/structured-per-target", test_structured_per_target);
  g_test_add_func ("/parse/structured-config-errors", test_structured_config_errors);

  return sluice_test_provider_run (engine);
}
