/* sluice-openai-provider.c — the OpenAI chat-completions wire protocol.
 *
 * Works with api.openai.com and with any server that speaks the same
 * protocol (base_url). One POST per attempt; every HTTP outcome becomes a
 * SluiceResponse, classified into one SLUICE_ERROR kind when it failed.
 * Timeouts and retries belong to the call stage.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-openai-provider.h"

#include <math.h>
#include <string.h>

#define DEFAULT_BASE_URL "https://api.openai.com/v1"
/* The most of a response body an error message may quote. */
#define MAX_BODY_EXCERPT 120
/* The most of a provider's own error message we pass on. */
#define MAX_PROVIDER_MESSAGE 400

struct _SluiceOpenaiProvider
{
  GObject     parent_instance;

  char       *model;
  char       *url;           /* base_url + "/chat/completions" */
  char       *host;          /* for messages: never the whole URL */
  char       *api_key;       /* never logged, never in a message */
  char       *organization;
  JsonObject *parameters;    /* copied into every request body */
  GPtrArray  *extra_headers; /* name, value, name, value, ... */
};

static void provider_iface_init (SluiceProviderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceOpenaiProvider, sluice_openai_provider, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_PROVIDER, provider_iface_init))

static void
clear_secret (char **secret)
{
  if (*secret != NULL)
    explicit_bzero (*secret, strlen (*secret));
  g_clear_pointer (secret, g_free);
}

static void
clear_configuration (SluiceOpenaiProvider *self)
{
  g_clear_pointer (&self->model, g_free);
  g_clear_pointer (&self->url, g_free);
  g_clear_pointer (&self->host, g_free);
  clear_secret (&self->api_key);
  g_clear_pointer (&self->organization, g_free);
  g_clear_pointer (&self->parameters, json_object_unref);
  g_clear_pointer (&self->extra_headers, g_ptr_array_unref);
}

static void
sluice_openai_provider_finalize (GObject *object)
{
  clear_configuration (SLUICE_OPENAI_PROVIDER (object));

  G_OBJECT_CLASS (sluice_openai_provider_parent_class)->finalize (object);
}

static void
sluice_openai_provider_class_init (SluiceOpenaiProviderClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_openai_provider_finalize;
}

static void
sluice_openai_provider_init (SluiceOpenaiProvider *self)
{
}

/* ---- text that may reach a message ---------------------------------------- */

static gboolean
contains (const char *word,
          gsize       len,
          const char *needle,
          gsize       needle_len)
{
  for (gsize i = 0; needle_len > 0 && i + needle_len <= len; i++)
    if (memcmp (word + i, needle, needle_len) == 0)
      return TRUE;
  return FALSE;
}

/* Provider text can quote the key back (OpenAI's 401 shows a masked form
 * of it): drop every word that holds the key, its first half (up to 8
 * characters), or a run of asterisks. */
static char *
scrub_secret (const char *text,
              const char *secret)
{
  GString *out = g_string_new (NULL);
  gsize secret_len = secret != NULL ? strlen (secret) : 0;
  gsize prefix_len = MIN (secret_len / 2, 8);
  const char *p = text;

  while (*p != '\0')
    {
      const char *word = p;
      gsize len;

      if (g_ascii_isspace (*p))
        {
          g_string_append_c (out, *p++);
          continue;
        }
      while (*p != '\0' && !g_ascii_isspace (*p))
        p++;
      len = (gsize) (p - word);

      if (contains (word, len, "**", 2) ||
          contains (word, len, secret, secret_len) ||
          (prefix_len >= 4 && contains (word, len, secret, prefix_len)))
        g_string_append (out, "[redacted]");
      else
        g_string_append_len (out, word, (gssize) len);
    }
  return g_string_free (out, FALSE);
}

/* One line of at most max_chars characters of data, valid UTF-8, control
 * characters and runs of white space folded into single spaces, scrubbed. */
static char *
excerpt (const char *data,
         gsize       len,
         guint       max_chars,
         const char *secret)
{
  g_autofree char *valid = g_utf8_make_valid (data != NULL ? data : "",
                                              (gssize) MIN (len, (gsize) max_chars * 4));
  g_autoptr(GString) line = g_string_new (NULL);
  gboolean space = FALSE;
  guint n = 0;

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isspace (c) || g_unichar_iscntrl (c))
        {
          space = line->len > 0;
          continue;
        }
      if (n >= max_chars)
        {
          g_string_append (line, "…");
          break;
        }
      if (space)
        {
          g_string_append_c (line, ' ');
          n++;
          space = FALSE;
        }
      g_string_append_unichar (line, c);
      n++;
    }
  return scrub_secret (line->str, secret);
}

/* ---- configuration ----------------------------------------------------------- */

static gboolean
node_is_number (JsonNode *node)
{
  GType type;

  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  return type == G_TYPE_INT64 || type == G_TYPE_DOUBLE;
}

static gboolean
node_is_integer (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64;
}

static gboolean
node_is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

static gboolean
read_string (JsonObject  *target,
             const char  *member,
             char       **out,
             GError     **error)
{
  JsonNode *node = json_object_get_member (target, member);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!node_is_string (node))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "'%s' must be a string", member);
      return FALSE;
    }
  *out = g_strdup (json_node_get_string (node));
  return TRUE;
}

static gboolean
check_number (JsonNode    *node,
              const char  *member,
              gdouble      min,
              gdouble      max,
              GError     **error)
{
  if (!node_is_number (node) || json_node_get_double (node) < min || json_node_get_double (node) > max)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "'%s' must be a number from %g to %g", member, min, max);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_stop (JsonNode  *node,
            GError   **error)
{
  if (node_is_string (node) && *json_node_get_string (node) != '\0')
    return TRUE;
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      guint n = json_array_get_length (array);
      gboolean ok = n >= 1 && n <= 4;

      for (guint i = 0; ok && i < n; i++)
        {
          JsonNode *element = json_array_get_element (array, i);
          ok = node_is_string (element) && *json_node_get_string (element) != '\0';
        }
      if (ok)
        return TRUE;
    }
  g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "'stop' must be a string or an array of 1 to 4 strings");
  return FALSE;
}

/* Request parameters passed through to the body, checked on the way. */
static gboolean
read_parameters (SluiceOpenaiProvider  *self,
                 JsonObject            *target,
                 GError               **error)
{
  static const char * const names[] = { "temperature", "top_p", "max_tokens", "seed", "stop" };

  self->parameters = json_object_new ();
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      const char *name = names[i];
      JsonNode *node = json_object_get_member (target, name);
      gboolean ok;

      if (node == NULL || JSON_NODE_HOLDS_NULL (node))
        continue;
      if (g_str_equal (name, "temperature"))
        ok = check_number (node, name, 0, 2, error);
      else if (g_str_equal (name, "top_p"))
        ok = check_number (node, name, 0, 1, error);
      else if (g_str_equal (name, "max_tokens"))
        {
          ok = node_is_integer (node) && json_node_get_int (node) >= 1;
          if (!ok)
            g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                                 "'max_tokens' must be a positive integer");
        }
      else if (g_str_equal (name, "seed"))
        {
          ok = node_is_integer (node);
          if (!ok)
            g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                                 "'seed' must be an integer");
        }
      else
        ok = check_stop (node, error);

      if (!ok)
        return FALSE;
      json_object_set_member (self->parameters, name, json_node_copy (node));
    }
  return TRUE;
}

static gboolean
header_name_is_valid (const char *name)
{
  if (*name == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("!#$%&'*+-.^_`|~", *p) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
read_extra_headers (SluiceOpenaiProvider  *self,
                    JsonObject            *target,
                    GError               **error)
{
  JsonNode *node = json_object_get_member (target, "extra_headers");
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  self->extra_headers = g_ptr_array_new_with_free_func (g_free);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "'extra_headers' must be an object of strings");
      return FALSE;
    }

  json_object_iter_init (&iter, json_node_get_object (node));
  while (json_object_iter_next (&iter, &name, &value))
    {
      /* The value is never quoted: it may well be a credential. */
      if (!header_name_is_valid (name) || !node_is_string (value) ||
          strpbrk (json_node_get_string (value), "\r\n") != NULL)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "extra_headers: '%s' must be a header name with a one-line string value",
                       name);
          return FALSE;
        }
      g_ptr_array_add (self->extra_headers, g_strdup (name));
      g_ptr_array_add (self->extra_headers, g_strdup (json_node_get_string (value)));
    }
  return TRUE;
}

static gboolean
read_base_url (SluiceOpenaiProvider  *self,
               JsonObject            *target,
               GError               **error)
{
  g_autofree char *base = NULL;
  g_autoptr(GUri) uri = NULL;
  gsize len;

  if (!read_string (target, "base_url", &base, error))
    return FALSE;
  if (base == NULL)
    base = g_strdup (DEFAULT_BASE_URL);

  len = strlen (base);
  while (len > 0 && base[len - 1] == '/')
    base[--len] = '\0';

  /* The URL is not quoted back: it may carry credentials. */
  uri = g_uri_parse (base, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' ||
      (g_ascii_strcasecmp (g_uri_get_scheme (uri), "http") != 0 &&
       g_ascii_strcasecmp (g_uri_get_scheme (uri), "https") != 0))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "'base_url' must be an http:// or https:// URL, "
                           "such as https://api.openai.com/v1");
      return FALSE;
    }

  self->host = g_strdup (g_uri_get_host (uri));
  self->url = g_strconcat (base, "/chat/completions", NULL);
  return TRUE;
}

static gboolean
read_target (SluiceOpenaiProvider  *self,
             JsonObject            *target,
             GError               **error)
{
  JsonNode *key;

  if (!read_string (target, "model", &self->model, error))
    return FALSE;
  if (self->model == NULL || *self->model == '\0')
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "'model' is required, e.g. model: gpt-4o-mini");
      return FALSE;
    }

  key = json_object_get_member (target, "api_key");
  if (key != NULL && !JSON_NODE_HOLDS_NULL (key) && !node_is_string (key))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "'api_key' must be a string");
      return FALSE;
    }
  if (key == NULL || JSON_NODE_HOLDS_NULL (key) || *json_node_get_string (key) == '\0')
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_AUTH,
                           "no API key: set api_key (e.g. api_key: ${OPENAI_API_KEY})");
      return FALSE;
    }
  self->api_key = g_strdup (json_node_get_string (key));
  if (strpbrk (self->api_key, "\r\n") != NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_AUTH,
                           "'api_key' holds a line break; check the variable it comes from");
      return FALSE;
    }

  return read_base_url (self, target, error) &&
         read_string (target, "organization", &self->organization, error) &&
         read_parameters (self, target, error) &&
         read_extra_headers (self, target, error);
}

static gboolean
sluice_openai_provider_configure (SluiceProvider  *provider,
                                  JsonObject      *target,
                                  GError         **error)
{
  SluiceOpenaiProvider *self = SLUICE_OPENAI_PROVIDER (provider);

  clear_configuration (self);
  if (read_target (self, target, error))
    return TRUE;
  /* Half a configuration is none: send_async then refuses to run. */
  clear_configuration (self);
  return FALSE;
}

/* ---- responses ------------------------------------------------------------------ */

static SluiceResponse *
error_response (guint            status,
                SluiceErrorCode  code,
                const char      *message)
{
  SluiceResponse *response = sluice_response_new ();

  sluice_response_set_http_status (response, status);
  sluice_response_take_error (response, g_error_new_literal (SLUICE_ERROR, code, message));
  return response;
}

/* Go durations as OpenAI writes them in x-ratelimit-reset-*: "1s", "6m0s",
 * "20ms", "1m30.5s". Rounded up, so a retry is never early. */
static gboolean
parse_go_duration (const char *text,
                   gint64     *out_ms)
{
  static const struct { const char *unit; gdouble ms; } units[] = {
    { "ms", 1 }, { "us", 1e-3 }, { "µs", 1e-3 }, { "ns", 1e-6 },
    { "h", 3600e3 }, { "m", 60e3 }, { "s", 1e3 },
  };
  gdouble total = 0;
  const char *p = text;

  if (p == NULL)
    return FALSE;
  while (g_ascii_isspace (*p))
    p++;
  if (*p == '\0')
    return FALSE;

  while (*p != '\0' && !g_ascii_isspace (*p))
    {
      char *end = NULL;
      gdouble value;
      gsize i;

      if (!g_ascii_isdigit (*p) && *p != '.')
        return FALSE;
      value = g_ascii_strtod (p, &end);
      if (end == p || !isfinite (value) || value < 0)
        return FALSE;
      p = end;
      if (value == 0 && (*p == '\0' || g_ascii_isspace (*p)))
        break;   /* Go writes a zero duration as "0" */
      for (i = 0; i < G_N_ELEMENTS (units); i++)
        if (g_str_has_prefix (p, units[i].unit))
          break;
      if (i == G_N_ELEMENTS (units))
        return FALSE;
      total += value * units[i].ms;
      p += strlen (units[i].unit);
    }

  if (total > 1e12)
    return FALSE;
  *out_ms = (gint64) ceil (total);
  return TRUE;
}

/* When a 429 comes without Retry-After: the reset of the limit that is
 * exhausted (remaining 0), else the soonest reset. */
static gint64
ratelimit_reset_ms (SoupMessageHeaders *headers)
{
  static const char * const limits[] = { "requests", "tokens" };
  gint64 binding = -1, soonest = -1;

  for (guint i = 0; i < G_N_ELEMENTS (limits); i++)
    {
      g_autofree char *reset_name = g_strconcat ("x-ratelimit-reset-", limits[i], NULL);
      g_autofree char *remaining_name = g_strconcat ("x-ratelimit-remaining-", limits[i], NULL);
      const char *remaining = soup_message_headers_get_one (headers, remaining_name);
      gint64 ms;

      if (!parse_go_duration (soup_message_headers_get_one (headers, reset_name), &ms))
        continue;
      while (remaining != NULL && g_ascii_isspace (*remaining))
        remaining++;
      if (remaining != NULL && remaining[0] == '0' && (remaining[1] == '\0' || g_ascii_isspace (remaining[1])))
        binding = MAX (binding, ms);
      soonest = soonest < 0 ? ms : MIN (soonest, ms);
    }
  return binding >= 0 ? binding : soonest;
}

static const char *
describe_content_type (SoupMessageHeaders *headers)
{
  const char *type = soup_message_headers_get_content_type (headers, NULL);

  return type != NULL ? type : "no content type";
}

/* OpenAI's error object: {"error": {"message", "type", "param", "code"}}. */
static JsonObject *
get_error_object (JsonNode *root)
{
  JsonNode *node;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  node = json_object_get_member (json_node_get_object (root), "error");
  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static gboolean
error_says (JsonObject *error,
            const char *what)
{
  return g_strcmp0 (sluice_json_get_string (error, "code"), what) == 0 ||
         g_strcmp0 (sluice_json_get_string (error, "type"), what) == 0;
}

static SluiceErrorCode
classify_status (guint       status,
                 JsonObject *error)
{
  const char *message = sluice_json_get_string (error, "message");

  switch (status)
    {
    case 429:
      /* Out of credit is not a rate limit: waiting does not help. */
      return error_says (error, "insufficient_quota") ? SLUICE_ERROR_BUDGET_EXCEEDED
                                                      : SLUICE_ERROR_RATE_LIMITED;
    case 401:
    case 403:
      return SLUICE_ERROR_AUTH;
    case 404:
      return SLUICE_ERROR_NOT_FOUND;
    case 408:
      return SLUICE_ERROR_TIMEOUT;
    case 503:
    case 529:
      return SLUICE_ERROR_OVERLOADED;
    case 504:
      return SLUICE_ERROR_TIMEOUT;
    default:
      break;
    }

  if (status >= 500 && status <= 599)
    return SLUICE_ERROR_SERVER;
  if (status >= 400 && status <= 499)
    {
      /* OpenAI sets the code; compatible servers (vLLM, llama.cpp) often
       * only say it in words. */
      if (error_says (error, "context_length_exceeded") ||
          (message != NULL && strstr (message, "maximum context length") != NULL))
        return SLUICE_ERROR_CONTEXT_OVERFLOW;
      if (error_says (error, "content_filter") || error_says (error, "content_policy_violation"))
        return SLUICE_ERROR_CONTENT_FILTER;
      return SLUICE_ERROR_BAD_REQUEST;
    }
  /* A redirect (not followed: it would carry the key elsewhere) or a
   * stray 1xx: the base_url is wrong. */
  return SLUICE_ERROR_BAD_REQUEST;
}

static void
fill_error (SluiceOpenaiProvider *self,
            SluiceResponse       *response,
            guint                 status,
            SoupMessageHeaders   *headers,
            JsonNode             *root)
{
  JsonObject *error = get_error_object (root);
  const char *provider_message = sluice_json_get_string (error, "message");
  SluiceErrorCode code = classify_status (status, error);
  g_autofree char *message = NULL;

  if (provider_message != NULL && *provider_message != '\0')
    {
      g_autofree char *text = excerpt (provider_message, strlen (provider_message),
                                       MAX_PROVIDER_MESSAGE, self->api_key);
      message = g_strdup_printf ("HTTP %u: %s", status, text);
    }
  else if (status >= 300 && status < 400)
    message = g_strdup_printf ("HTTP %u (a redirect; check base_url)", status);
  else
    message = g_strdup_printf ("HTTP %u (%s)", status, describe_content_type (headers));

  sluice_response_take_error (response, g_error_new_literal (SLUICE_ERROR, code, message));
}

static void
take_malformed (SluiceResponse *response,
                char           *message)
{
  sluice_response_take_error (response, g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_MALFORMED,
                                                             message));
  g_free (message);
}

static const char *
normalize_finish_reason (const char *reason)
{
  if (reason == NULL)
    return NULL;
  if (g_str_equal (reason, "length"))
    return "length";
  if (g_str_equal (reason, "content_filter"))
    return "content_filter";
  if (g_str_equal (reason, "tool_calls") || g_str_equal (reason, "function_call"))
    return "tool_call";
  /* "stop", and what compatible servers say for it ("eos", "end_turn"). */
  return "stop";
}

/* content is a string, or (some compatible servers) an array of parts. */
static char *
get_content (JsonObject *message)
{
  JsonNode *content = json_object_get_member (message, "content");
  GString *text;
  JsonArray *parts;

  if (content == NULL || JSON_NODE_HOLDS_NULL (content))
    return NULL;
  if (node_is_string (content))
    return g_strdup (json_node_get_string (content));
  if (!JSON_NODE_HOLDS_ARRAY (content))
    return NULL;

  text = g_string_new (NULL);
  parts = json_node_get_array (content);
  for (guint i = 0; i < json_array_get_length (parts); i++)
    {
      JsonNode *part = json_array_get_element (parts, i);
      const char *part_text = JSON_NODE_HOLDS_OBJECT (part)
        ? sluice_json_get_string (json_node_get_object (part), "text") : NULL;

      if (part_text != NULL)
        g_string_append (text, part_text);
    }
  return g_string_free (text, FALSE);
}

static const char *
first_tool_call_arguments (JsonObject *message)
{
  JsonNode *calls = json_object_get_member (message, "tool_calls");
  JsonNode *first, *function;

  if (calls == NULL || !JSON_NODE_HOLDS_ARRAY (calls) ||
      json_array_get_length (json_node_get_array (calls)) == 0)
    return NULL;
  first = json_array_get_element (json_node_get_array (calls), 0);
  if (!JSON_NODE_HOLDS_OBJECT (first))
    return NULL;
  function = json_object_get_member (json_node_get_object (first), "function");
  if (function == NULL || !JSON_NODE_HOLDS_OBJECT (function))
    return NULL;
  return sluice_json_get_string (json_node_get_object (function), "arguments");
}

static void
fill_usage (SluiceResponse *response,
            JsonObject     *body)
{
  JsonNode *node = json_object_get_member (body, "usage");
  JsonObject *usage, *details;
  JsonNode *details_node;
  gint64 cached = 0, reasoning = 0;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      sluice_response_set_usage (response, -1, -1, 0, 0, FALSE);
      return;
    }
  usage = json_node_get_object (node);

  details_node = json_object_get_member (usage, "prompt_tokens_details");
  details = details_node != NULL && JSON_NODE_HOLDS_OBJECT (details_node)
    ? json_node_get_object (details_node) : NULL;
  cached = sluice_json_get_int (details, "cached_tokens", 0);

  details_node = json_object_get_member (usage, "completion_tokens_details");
  details = details_node != NULL && JSON_NODE_HOLDS_OBJECT (details_node)
    ? json_node_get_object (details_node) : NULL;
  reasoning = sluice_json_get_int (details, "reasoning_tokens", 0);

  sluice_response_set_usage (response,
                             sluice_json_get_int (usage, "prompt_tokens", -1),
                             sluice_json_get_int (usage, "completion_tokens", -1),
                             cached, reasoning, FALSE);
}

static void
fill_completion (SluiceOpenaiProvider *self,
                 SluiceResponse       *response,
                 guint                 status,
                 SoupMessageHeaders   *headers,
                 JsonNode             *root,
                 const char           *data,
                 gsize                 len)
{
  JsonObject *body, *choice, *message, *error;
  JsonNode *choices, *node;
  g_autofree char *content = NULL;
  const char *reason, *arguments, *refusal;

  if (root == NULL)
    {
      g_autofree char *quote = excerpt (data, len, MAX_BODY_EXCERPT, self->api_key);

      take_malformed (response,
                      g_strdup_printf ("provider returned HTTP %u with an unparseable body "
                                       "(%s, %" G_GSIZE_FORMAT " bytes)%s%s%s",
                                       status, describe_content_type (headers), len,
                                       *quote != '\0' ? ": \"" : "", quote,
                                       *quote != '\0' ? "\"" : ""));
      return;
    }

  /* Some compatible servers report failures with a 200 and an error object. */
  if ((error = get_error_object (root)) != NULL && sluice_json_get_string (error, "message") != NULL)
    {
      const char *text = sluice_json_get_string (error, "message");
      g_autofree char *quote = excerpt (text, strlen (text), MAX_PROVIDER_MESSAGE, self->api_key);

      take_malformed (response, g_strdup_printf ("provider returned HTTP %u with an error: %s",
                                                 status, quote));
      return;
    }

  body = JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  choices = body != NULL ? json_object_get_member (body, "choices") : NULL;
  if (choices == NULL || !JSON_NODE_HOLDS_ARRAY (choices))
    {
      take_malformed (response,
                      g_strdup_printf ("provider returned HTTP %u without a choices array "
                                       "(%s, %" G_GSIZE_FORMAT " bytes)",
                                       status, describe_content_type (headers), len));
      return;
    }

  /* Usage, model and id first: even a refused answer was billed. */
  fill_usage (response, body);
  sluice_response_set_model (response, sluice_json_get_string (body, "model") ?: self->model);
  if (sluice_response_get_request_id (response) == NULL)
    sluice_response_set_request_id (response, sluice_json_get_string (body, "id"));

  if (json_array_get_length (json_node_get_array (choices)) == 0)
    {
      take_malformed (response, g_strdup_printf ("provider returned HTTP %u with no choices", status));
      return;
    }
  node = json_array_get_element (json_node_get_array (choices), 0);
  choice = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  node = choice != NULL ? json_object_get_member (choice, "message") : NULL;
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      take_malformed (response,
                      g_strdup_printf ("provider returned HTTP %u without choices[0].message", status));
      return;
    }
  message = json_node_get_object (node);
  reason = normalize_finish_reason (sluice_json_get_string (choice, "finish_reason"));
  content = get_content (message);
  arguments = first_tool_call_arguments (message);
  refusal = sluice_json_get_string (message, "refusal");

  if ((content == NULL || *content == '\0') && arguments != NULL)
    {
      sluice_response_set_text (response, arguments);
      reason = "tool_call";
    }
  else if (content == NULL && refusal != NULL)
    {
      /* The model declined on content grounds: the same outcome as the filter. */
      g_autofree char *quote = excerpt (refusal, strlen (refusal), MAX_PROVIDER_MESSAGE, self->api_key);

      sluice_response_set_finish_reason (response, "content_filter");
      sluice_response_take_error (response,
                                  g_error_new (SLUICE_ERROR, SLUICE_ERROR_CONTENT_FILTER,
                                               "the model refused: %s", quote));
      return;
    }
  else if (content == NULL && g_strcmp0 (reason, "content_filter") != 0)
    {
      take_malformed (response,
                      g_strdup_printf ("provider returned HTTP %u with no content in choices[0].message",
                                       status));
      return;
    }
  else
    sluice_response_set_text (response, content);

  sluice_response_set_finish_reason (response, reason);
  if (g_strcmp0 (reason, "content_filter") == 0)
    sluice_response_take_error (response,
                                g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CONTENT_FILTER,
                                                     "the provider's content filter stopped the answer"));
}

static SluiceResponse *
parse_response (SluiceOpenaiProvider *self,
                SoupMessage          *msg,
                GBytes               *bytes)
{
  SluiceResponse *response = sluice_response_new ();
  SoupMessageHeaders *headers = soup_message_get_response_headers (msg);
  guint status = soup_message_get_status (msg);
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autoptr(JsonNode) root = NULL;
  const char *request_id;
  gint64 retry_after;

  if (data != NULL && len > 0)
    root = sluice_json_from_string (data, (gssize) len, NULL);

  /* The id support asks for: on failures too. */
  request_id = soup_message_headers_get_one (headers, "x-request-id");
  if (request_id != NULL && *request_id != '\0')
    sluice_response_set_request_id (response, request_id);

  retry_after = sluice_http_parse_retry_after (headers);
  if (retry_after < 0 && status == 429)
    retry_after = ratelimit_reset_ms (headers);
  sluice_response_set_http_status (response, status);
  sluice_response_set_retry_after_ms (response, retry_after);

  if (SOUP_STATUS_IS_SUCCESSFUL (status))
    fill_completion (self, response, status, headers, root, data, len);
  else
    fill_error (self, response, status, headers, root);
  return response;
}

/* ---- sending ----------------------------------------------------------------------- */

static GBytes *
build_body (SluiceOpenaiProvider *self,
            JsonArray            *messages)
{
  g_autoptr(JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  JsonObject *body = json_object_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;
  char *text;

  json_node_take_object (root, body);
  json_object_set_string_member (body, "model", self->model);
  json_object_set_array_member (body, "messages", json_array_ref (messages));
  json_object_iter_init (&iter, self->parameters);
  while (json_object_iter_next (&iter, &name, &value))
    json_object_set_member (body, name, json_node_copy (value));

  text = sluice_json_to_string (root);
  return g_bytes_new_take (text, strlen (text));
}

static void
on_send_and_read (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  SluiceOpenaiProvider *self = g_task_get_source_object (task);
  SoupMessage *msg = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = sluice_http_send_and_read_finish (result, &error);
  SluiceResponse *response;

  if (bytes == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE))
    {
      g_autofree char *message = g_strdup_printf ("HTTP %u from %s: %s", soup_message_get_status (msg),
                                                  self->host, error->message);
      SluiceResponse *too_large = error_response (soup_message_get_status (msg), SLUICE_ERROR_MALFORMED, message);

      g_task_return_pointer (task, too_large, g_object_unref);
      return;
    }

  if (bytes == NULL)
    {
      g_autofree char *message = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      /* Cancelled while something else broke: the caller asked to stop. */
      if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
        {
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                   "the attempt was cancelled");
          return;
        }

      /* Connection refused or reset, TLS, DNS, a body cut short: the
       * transport's message names the host, never the request. */
      message = g_strdup_printf ("request to %s failed: %s", self->host, error->message);
      g_debug ("%s", message);
      g_task_return_pointer (task, error_response (0, SLUICE_ERROR_NETWORK, message), g_object_unref);
      return;
    }

  response = parse_response (self, msg, bytes);
  g_debug ("HTTP %u from %s, %s", soup_message_get_status (msg), self->host,
           sluice_response_get_error (response) != NULL
             ? sluice_error_kind (sluice_response_get_error (response)->code) : "ok");
  g_task_return_pointer (task, response, g_object_unref);
}

static void
sluice_openai_provider_send_async (SluiceProvider      *provider,
                                   SluiceContext       *context,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  SluiceOpenaiProvider *self = SLUICE_OPENAI_PROVIDER (provider);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  SoupMessageHeaders *headers;
  JsonArray *messages;
  char *authorization;

  g_task_set_source_tag (task, sluice_openai_provider_send_async);

  if (self->url == NULL)
    {
      g_task_return_new_error (task, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                               "the openai provider was used before it was configured");
      return;
    }

  messages = sluice_context_get_messages (context);
  if (messages == NULL || json_array_get_length (messages) == 0)
    {
      g_task_return_pointer (task,
                             error_response (0, SLUICE_ERROR_BAD_REQUEST,
                                             "no messages to send: add an assemble stage"),
                             g_object_unref);
      return;
    }

  msg = soup_message_new (SOUP_METHOD_POST, self->url);
  if (msg == NULL)
    {
      g_task_return_new_error (task, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                               "cannot build a request for the base_url of host %s", self->host);
      return;
    }
  /* A redirect would carry the Authorization header to another host. */
  /* libsoup never reuses a kept-alive connection for a POST unless the
   * message is marked idempotent: without this flag every call opens a
   * new TCP (and TLS) connection. The call stage retries failed attempts
   * anyway, so a resend on a connection the server just closed is fine. */
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT | SOUP_MESSAGE_IDEMPOTENT);

  headers = soup_message_get_request_headers (msg);
  authorization = g_strconcat ("Bearer ", self->api_key, NULL);
  soup_message_headers_replace (headers, "Authorization", authorization);
  clear_secret (&authorization);
  soup_message_headers_replace (headers, "Accept", "application/json");
  if (self->organization != NULL)
    soup_message_headers_replace (headers, "OpenAI-Organization", self->organization);
  for (guint i = 0; i + 1 < self->extra_headers->len; i += 2)
    soup_message_headers_replace (headers, g_ptr_array_index (self->extra_headers, i),
                                  g_ptr_array_index (self->extra_headers, i + 1));

  body = build_body (self, messages);
  soup_message_set_request_body_from_bytes (msg, "application/json", body);

  g_task_set_task_data (task, g_object_ref (msg), g_object_unref);
  sluice_http_send_and_read_async (msg, SLUICE_HTTP_MAX_BODY, cancellable,
                                   on_send_and_read, g_steal_pointer (&task));
}

static SluiceResponse *
sluice_openai_provider_send_finish (SluiceProvider  *provider,
                                    GAsyncResult    *result,
                                    GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, provider), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
provider_iface_init (SluiceProviderInterface *iface)
{
  iface->configure = sluice_openai_provider_configure;
  iface->send_async = sluice_openai_provider_send_async;
  iface->send_finish = sluice_openai_provider_send_finish;
}
