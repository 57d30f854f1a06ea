/* mock-scenario.c: the --scenario file
 *
 * {"rules": [{"match": "...", "sequence": [STEP, ...], "then": "ok"}]}
 *
 * A STEP is an object {"kind": NAME, ...} or just the kind's name. The
 * loader reports every problem it finds, each with its JSON path, instead of
 * stopping at the first one.
 */
#define _GNU_SOURCE   /* memmem */
#define G_LOG_DOMAIN "sluice-mock"

#include "mock-common.h"

#include <string.h>
#include <json-glib/json-glib.h>

#define KIND_NAMES \
  "ok, rate_limit, server_error, overloaded, hang, malformed, html, bad_answer, status, " \
  "cut, stall, malformed_chunk, no_usage"

typedef struct {
  char     *match;       /* NULL = every request */
  gsize     match_len;
  MockStep *sequence;
  guint     n_sequence;
  guint     position;    /* next step of the sequence */
  MockStep  then;
} MockRule;

struct _MockScenario {
  MockRule *rules;
  guint     n_rules;
};

typedef struct {
  GPtrArray *problems;   /* char *, "path: message" */
} Checker;

G_GNUC_PRINTF (3, 4)
static void
problem (Checker    *ck,
         const char *path,
         const char *format,
         ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_ptr_array_add (ck->problems, g_strdup_printf ("%s: %s", path, message));
}

static const char *
node_type_name (JsonNode *node)
{
  if (JSON_NODE_HOLDS_NULL (node))
    return "null";
  if (JSON_NODE_HOLDS_OBJECT (node))
    return "an object";
  if (JSON_NODE_HOLDS_ARRAY (node))
    return "an array";
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_STRING: return "a string";
    case G_TYPE_BOOLEAN: return "a boolean";
    case G_TYPE_INT64: return "an integer";
    case G_TYPE_DOUBLE: return "a number";
    default: return "a value";
    }
}

static gboolean
node_is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

static gboolean
node_is_integer (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64;
}

static void
step_init (MockStep *step,
           MockKind  kind)
{
  memset (step, 0, sizeof *step);
  step->kind = kind;
  step->retry_after_ms = -1;
  step->prompt_tokens = -1;
  step->completion_tokens = -1;
  step->total_tokens = -1;
  step->variant = -1;
  step->hang_us = -1;
  step->chunk_bytes = -1;
  step->chunk_delay_us = -1;
  step->stall_after_bytes = -1;
}

static void
step_clear (MockStep *step)
{
  g_free (step->retry_after);
  g_free (step->body);
  g_free (step->content_type);
  for (guint i = 0; i < step->n_headers; i++)
    {
      g_free (step->header_names[i]);
      g_free (step->header_values[i]);
    }
  g_free (step->header_names);
  g_free (step->header_values);
  g_free (step->content);
}

/* Which members each kind accepts besides "kind", "latency" and "comment". */
static gboolean
member_allowed (MockKind    kind,
                const char *name)
{
  static const struct { MockKind kind; const char *name; } allowed[] = {
    { MOCK_KIND_RATE_LIMIT, "retry_after" },
    { MOCK_KIND_RATE_LIMIT, "retry_after_ms" },
    { MOCK_KIND_STATUS, "status" },
    { MOCK_KIND_STATUS, "body" },
    { MOCK_KIND_STATUS, "content_type" },
    { MOCK_KIND_STATUS, "headers" },
    { MOCK_KIND_STATUS, "chunk_bytes" },
    { MOCK_KIND_STATUS, "chunk_delay" },
    { MOCK_KIND_STATUS, "stall_after_bytes" },
    { MOCK_KIND_OK, "content" },
    { MOCK_KIND_OK, "usage" },
    { MOCK_KIND_OK, "finish_reason" },
    { MOCK_KIND_BAD_ANSWER, "variant" },
    { MOCK_KIND_HANG, "duration" },
  };

  if (g_str_equal (name, "kind") || g_str_equal (name, "latency") ||
      g_str_equal (name, "comment"))
    return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (allowed); i++)
    if (allowed[i].kind == kind && g_str_equal (allowed[i].name, name))
      return TRUE;
  return FALSE;
}

static gboolean
header_text_ok (const char *text)
{
  for (const char *p = text; *p; p++)
    if (*p == '\r' || *p == '\n')
      return FALSE;
  return TRUE;
}

static void
parse_usage (Checker    *ck,
             const char *path,
             JsonNode   *node,
             MockStep   *step)
{
  static const char * const names[] = { "prompt_tokens", "completion_tokens", "total_tokens" };
  gint64 *fields[] = { &step->prompt_tokens, &step->completion_tokens, &step->total_tokens };
  JsonObject *obj;
  g_autoptr(GList) members = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      problem (ck, path, "\"usage\" must be an object, not %s", node_type_name (node));
      return;
    }
  obj = json_node_get_object (node);
  members = json_object_get_members (obj);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *value = json_object_get_member (obj, name);
      gsize i;

      for (i = 0; i < G_N_ELEMENTS (names); i++)
        if (g_str_equal (name, names[i]))
          break;
      if (i == G_N_ELEMENTS (names))
        {
          problem (ck, path, "unknown member \"usage.%s\" (expected prompt_tokens, "
                   "completion_tokens, total_tokens)", name);
          continue;
        }
      if (!node_is_integer (value) || json_node_get_int (value) < 0)
        {
          problem (ck, path, "\"usage.%s\" must be a non-negative integer", name);
          continue;
        }
      *fields[i] = json_node_get_int (value);
    }
}

static void
parse_headers (Checker    *ck,
               const char *path,
               JsonNode   *node,
               MockStep   *step)
{
  JsonObject *obj;
  g_autoptr(GList) members = NULL;
  guint n;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      problem (ck, path, "\"headers\" must be an object of strings, not %s",
               node_type_name (node));
      return;
    }
  obj = json_node_get_object (node);
  members = json_object_get_members (obj);
  n = g_list_length (members);
  step->header_names = g_new0 (char *, n);
  step->header_values = g_new0 (char *, n);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *value = json_object_get_member (obj, name);

      if (!node_is_string (value))
        {
          problem (ck, path, "header \"%s\" must be a string, not %s", name,
                   node_type_name (value));
          continue;
        }
      if (*name == '\0' || !header_text_ok (name) || strpbrk (name, " :\t") != NULL ||
          !header_text_ok (json_node_get_string (value)))
        {
          problem (ck, path, "header \"%s\" is not a valid header name and value", name);
          continue;
        }
      step->header_names[step->n_headers] = g_strdup (name);
      step->header_values[step->n_headers] = g_strdup (json_node_get_string (value));
      step->n_headers++;
    }
}

/* Fills @step from @node (a kind name or a step object). */
static void
parse_step (Checker    *ck,
            const char *path,
            JsonNode   *node,
            MockStep   *step)
{
  JsonObject *obj;
  JsonNode *member;
  const char *kind_name;
  MockKind kind;
  g_autoptr(GList) members = NULL;

  step_init (step, MOCK_KIND_OK);

  if (node_is_string (node))
    {
      kind_name = json_node_get_string (node);
      if (!mock_kind_from_name (kind_name, &kind))
        problem (ck, path, "unknown kind \"%s\" (expected one of %s)",
                 kind_name, KIND_NAMES);
      else if (kind == MOCK_KIND_STATUS)
        problem (ck, path, "kind \"status\" needs an object with a \"status\" member");
      else
        step->kind = kind;
      return;
    }
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      problem (ck, path, "a step must be an object or a kind name, not %s",
               node_type_name (node));
      return;
    }

  obj = json_node_get_object (node);
  member = json_object_get_member (obj, "kind");
  if (member == NULL)
    {
      problem (ck, path, "missing \"kind\"");
      return;
    }
  if (!node_is_string (member))
    {
      problem (ck, path, "\"kind\" must be a string, not %s", node_type_name (member));
      return;
    }
  kind_name = json_node_get_string (member);
  if (!mock_kind_from_name (kind_name, &kind))
    {
      problem (ck, path, "unknown kind \"%s\" (expected one of %s)",
               kind_name, KIND_NAMES);
      return;
    }
  step->kind = kind;

  members = json_object_get_members (obj);
  for (GList *l = members; l != NULL; l = l->next)
    if (!member_allowed (kind, l->data))
      problem (ck, path, "member \"%s\" does not apply to kind \"%s\"",
               (const char *) l->data, kind_name);

  if ((member = json_object_get_member (obj, "latency")) != NULL)
    {
      g_autoptr(GError) error = NULL;

      if (node_is_integer (member) && json_node_get_int (member) >= 0)
        {
          step->has_latency = TRUE;
          step->latency.dist = MOCK_LATENCY_FIXED;
          step->latency.a_us = json_node_get_int (member) * 1000;
        }
      else if (!node_is_string (member))
        problem (ck, path, "\"latency\" must be a string like \"30ms\" or a number of "
                 "milliseconds, not %s", node_type_name (member));
      else if (!mock_parse_latency (json_node_get_string (member), &step->latency, &error))
        problem (ck, path, "%s", error->message);
      else
        step->has_latency = TRUE;
    }

  switch (kind)
    {
    case MOCK_KIND_RATE_LIMIT:
      if ((member = json_object_get_member (obj, "retry_after")) != NULL)
        {
          if (node_is_string (member) && header_text_ok (json_node_get_string (member)))
            step->retry_after = g_strdup (json_node_get_string (member));
          else if (node_is_integer (member) && json_node_get_int (member) >= 0)
            step->retry_after = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (member));
          else
            problem (ck, path, "\"retry_after\" must be a header value string or a "
                     "non-negative integer");
        }
      if ((member = json_object_get_member (obj, "retry_after_ms")) != NULL)
        {
          if (node_is_integer (member) && json_node_get_int (member) >= 0)
            step->retry_after_ms = json_node_get_int (member);
          else
            problem (ck, path, "\"retry_after_ms\" must be a non-negative integer");
        }
      break;

    case MOCK_KIND_STATUS:
      member = json_object_get_member (obj, "status");
      if (member == NULL)
        problem (ck, path, "kind \"status\" needs a \"status\" member");
      else if (!node_is_integer (member) ||
               json_node_get_int (member) < 200 || json_node_get_int (member) > 599)
        problem (ck, path, "\"status\" must be an integer from 200 to 599");
      else
        step->status = (guint) json_node_get_int (member);
      if ((member = json_object_get_member (obj, "body")) != NULL)
        {
          if (node_is_string (member))
            {
              step->body = g_strdup (json_node_get_string (member));
              step->body_len = strlen (step->body);
            }
          else
            problem (ck, path, "\"body\" must be a string, not %s", node_type_name (member));
        }
      if ((member = json_object_get_member (obj, "content_type")) != NULL)
        {
          if (node_is_string (member) && header_text_ok (json_node_get_string (member)) &&
              *json_node_get_string (member) != '\0')
            step->content_type = g_strdup (json_node_get_string (member));
          else
            problem (ck, path, "\"content_type\" must be a non-empty string");
        }
      if ((member = json_object_get_member (obj, "headers")) != NULL)
        parse_headers (ck, path, member, step);
      if ((member = json_object_get_member (obj, "chunk_bytes")) != NULL)
        {
          if (node_is_integer (member) && json_node_get_int (member) > 0)
            step->chunk_bytes = json_node_get_int (member);
          else
            problem (ck, path, "\"chunk_bytes\" must be a positive integer");
        }
      if ((member = json_object_get_member (obj, "chunk_delay")) != NULL)
        {
          if (node_is_integer (member) && json_node_get_int (member) >= 0)
            step->chunk_delay_us = json_node_get_int (member) * 1000;
          else if (!node_is_string (member) ||
                   !mock_parse_duration (json_node_get_string (member), &step->chunk_delay_us))
            problem (ck, path, "\"chunk_delay\" must be a duration like \"10ms\"");
        }
      if ((member = json_object_get_member (obj, "stall_after_bytes")) != NULL)
        {
          if (node_is_integer (member) && json_node_get_int (member) >= 0)
            step->stall_after_bytes = json_node_get_int (member);
          else
            problem (ck, path, "\"stall_after_bytes\" must be a non-negative integer");
        }
      break;

    case MOCK_KIND_OK:
      if ((member = json_object_get_member (obj, "content")) != NULL)
        {
          if (node_is_string (member))
            step->content = g_strdup (json_node_get_string (member));
          else
            problem (ck, path, "\"content\" must be a string, not %s", node_type_name (member));
        }
      if ((member = json_object_get_member (obj, "usage")) != NULL)
        parse_usage (ck, path, member, step);
      if ((member = json_object_get_member (obj, "finish_reason")) != NULL)
        {
          if (node_is_string (member) && (g_str_equal (json_node_get_string (member), "stop") ||
                                          g_str_equal (json_node_get_string (member), "length")))
            step->length_cut = g_str_equal (json_node_get_string (member), "length");
          else
            problem (ck, path, "\"finish_reason\" must be \"stop\" or \"length\"");
        }
      break;

    case MOCK_KIND_BAD_ANSWER:
      if ((member = json_object_get_member (obj, "variant")) != NULL)
        {
          MockBadVariant variant;

          if (node_is_string (member) &&
              mock_bad_variant_from_name (json_node_get_string (member), &variant))
            step->variant = (gint) variant;
          else
            problem (ck, path, "\"variant\" must be one of bad_label, bad_confidence, "
                     "missing_reasoning, prose");
        }
      break;

    case MOCK_KIND_HANG:
      if ((member = json_object_get_member (obj, "duration")) != NULL)
        {
          if (node_is_integer (member) && json_node_get_int (member) >= 0)
            step->hang_us = json_node_get_int (member) * 1000;
          else if (!node_is_string (member) ||
                   !mock_parse_duration (json_node_get_string (member), &step->hang_us))
            problem (ck, path, "\"duration\" must be a duration like \"5s\"");
        }
      break;

    case MOCK_KIND_SERVER_ERROR:
    case MOCK_KIND_OVERLOADED:
    case MOCK_KIND_MALFORMED:
    case MOCK_KIND_HTML:
    case MOCK_KIND_CUT:
    case MOCK_KIND_STALL:
    case MOCK_KIND_MALFORMED_CHUNK:
    case MOCK_KIND_NO_USAGE:
    default:
      break;
    }
}

static void
parse_rule (Checker    *ck,
            const char *path,
            JsonNode   *node,
            MockRule   *rule)
{
  JsonObject *obj;
  JsonNode *member;
  g_autoptr(GList) members = NULL;

  step_init (&rule->then, MOCK_KIND_OK);

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      problem (ck, path, "a rule must be an object, not %s", node_type_name (node));
      return;
    }
  obj = json_node_get_object (node);

  members = json_object_get_members (obj);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;

      if (!g_str_equal (name, "match") && !g_str_equal (name, "sequence") &&
          !g_str_equal (name, "then") && !g_str_equal (name, "comment"))
        problem (ck, path, "unknown member \"%s\" (a rule has match, sequence, then)", name);
    }

  if ((member = json_object_get_member (obj, "match")) != NULL)
    {
      if (!node_is_string (member))
        problem (ck, path, "\"match\" must be a string, not %s", node_type_name (member));
      else if (*json_node_get_string (member) == '\0')
        problem (ck, path, "\"match\" is empty; leave it out to match every request");
      else
        {
          rule->match = g_strdup (json_node_get_string (member));
          rule->match_len = strlen (rule->match);
        }
    }

  if ((member = json_object_get_member (obj, "sequence")) != NULL)
    {
      if (!JSON_NODE_HOLDS_ARRAY (member))
        problem (ck, path, "\"sequence\" must be an array, not %s", node_type_name (member));
      else
        {
          JsonArray *array = json_node_get_array (member);
          guint n = json_array_get_length (array);

          rule->sequence = g_new0 (MockStep, MAX (n, 1));
          for (guint i = 0; i < n; i++)
            {
              g_autofree char *step_path = g_strdup_printf ("%s.sequence[%u]", path, i);

              parse_step (ck, step_path, json_array_get_element (array, i),
                          &rule->sequence[i]);
              rule->n_sequence++;
            }
        }
    }

  if ((member = json_object_get_member (obj, "then")) != NULL)
    {
      g_autofree char *then_path = g_strdup_printf ("%s.then", path);

      parse_step (ck, then_path, member, &rule->then);
    }
}

MockScenario *
mock_scenario_load (const char *path,
                    GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local_error = NULL;
  MockScenario *scenario;
  Checker ck;
  JsonNode *root, *rules;
  JsonObject *obj;

  if (!json_parser_load_from_file (parser, path, &local_error))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "scenario file %s: %s", path, local_error->message);
      return NULL;
    }

  scenario = g_new0 (MockScenario, 1);
  ck.problems = g_ptr_array_new_with_free_func (g_free);

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      problem (&ck, "$", "the file must hold a JSON object {\"rules\": [...]}");
      goto out;
    }
  obj = json_node_get_object (root);
  {
    g_autoptr(GList) members = json_object_get_members (obj);

    for (GList *l = members; l != NULL; l = l->next)
      if (!g_str_equal (l->data, "rules") && !g_str_equal (l->data, "comment"))
        problem (&ck, "$", "unknown member \"%s\" (expected \"rules\")",
                 (const char *) l->data);
  }
  rules = json_object_get_member (obj, "rules");
  if (rules == NULL)
    problem (&ck, "$", "missing \"rules\" array");
  else if (!JSON_NODE_HOLDS_ARRAY (rules))
    problem (&ck, "$.rules", "must be an array, not %s", node_type_name (rules));
  else
    {
      JsonArray *array = json_node_get_array (rules);
      guint n = json_array_get_length (array);

      scenario->rules = g_new0 (MockRule, MAX (n, 1));
      for (guint i = 0; i < n; i++)
        {
          g_autofree char *rule_path = g_strdup_printf ("$.rules[%u]", i);

          parse_rule (&ck, rule_path, json_array_get_element (array, i),
                      &scenario->rules[i]);
          scenario->n_rules++;
        }
    }

out:
  if (ck.problems->len > 0)
    {
      GString *message = g_string_new (NULL);

      g_string_append_printf (message, "scenario file %s has %u problem%s:", path,
                              ck.problems->len, ck.problems->len == 1 ? "" : "s");
      for (guint i = 0; i < ck.problems->len; i++)
        g_string_append_printf (message, "\n  %s: %s", path,
                                (const char *) g_ptr_array_index (ck.problems, i));
      g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, message->str);
      g_string_free (message, TRUE);
      g_ptr_array_unref (ck.problems);
      mock_scenario_free (scenario);
      return NULL;
    }

  g_ptr_array_unref (ck.problems);
  return scenario;
}

const MockStep *
mock_scenario_pick (MockScenario *scenario,
                    const char   *body,
                    gsize         body_len)
{
  if (scenario == NULL)
    return NULL;

  for (guint i = 0; i < scenario->n_rules; i++)
    {
      MockRule *rule = &scenario->rules[i];

      if (rule->match != NULL &&
          (body == NULL || memmem (body, body_len, rule->match, rule->match_len) == NULL))
        continue;
      if (rule->position < rule->n_sequence)
        return &rule->sequence[rule->position++];
      return &rule->then;
    }
  return NULL;
}

void
mock_scenario_free (MockScenario *scenario)
{
  if (scenario == NULL)
    return;
  for (guint i = 0; i < scenario->n_rules; i++)
    {
      MockRule *rule = &scenario->rules[i];

      g_free (rule->match);
      for (guint j = 0; j < rule->n_sequence; j++)
        step_clear (&rule->sequence[j]);
      g_free (rule->sequence);
      step_clear (&rule->then);
    }
  g_free (scenario->rules);
  g_free (scenario);
}
