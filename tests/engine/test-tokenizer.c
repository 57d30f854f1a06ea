/* test-tokenizer.c — the tokenizer without the shared vectors: chat
 * framing against counts OpenAI's API reported, special tokens refused,
 * allowed or kept as text, 1 MB single "words", the model → encoding map
 * and the stand-in estimate for other models.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-private.h"

static SluiceTokenizer *
get (const char *encoding)
{
  g_autoptr(GError) error = NULL;
  SluiceTokenizer *tokenizer = sluice_tokenizer_get (encoding, &error);

  g_assert_no_error (error);
  g_assert_nonnull (tokenizer);
  return tokenizer;
}

static void
assert_tokens (const char   *encoding,
               const char   *text,
               const guint32 *expected,
               gsize          n_expected)
{
  g_autoptr(GError) error = NULL;
  gsize n = 0;
  g_autofree guint32 *tokens = sluice_tokenizer_encode (get (encoding), text, -1,
                                                        SLUICE_SPECIAL_TOKENS_DISALLOW, &n, &error);

  g_assert_no_error (error);
  g_assert_cmpmem (tokens, n * sizeof (guint32), expected, n_expected * sizeof (guint32));
}

/* Upstream's own test vectors (openai/tiktoken tests/test_encoding.py). */
static void
test_upstream (void)
{
  assert_tokens ("cl100k_base", "hello world", (guint32[]) { 15339, 1917 }, 2);
  assert_tokens ("cl100k_base", "rer", (guint32[]) { 38149 }, 1);
  assert_tokens ("cl100k_base", "'rer", (guint32[]) { 2351, 81 }, 2);
  assert_tokens ("cl100k_base", "today\n ", (guint32[]) { 31213, 198, 220 }, 3);
  assert_tokens ("cl100k_base", "today\n \n", (guint32[]) { 31213, 27907 }, 2);
  assert_tokens ("cl100k_base", "today\n  \n", (guint32[]) { 31213, 14211 }, 2);
  /* U+0085 is White_Space for tiktoken (and not for PCRE2's own \s). */
  assert_tokens ("cl100k_base", " \xc2\x85" "0", (guint32[]) { 220, 126, 227, 15 }, 4);
  assert_tokens ("cl100k_base", "\xf0\x9f\x91\x8d", (guint32[]) { 9468, 239, 235 }, 3);
  g_assert_cmpuint (sluice_tokenizer_get_n_vocab (get ("cl100k_base")), ==, 100277);
  g_assert_cmpuint (sluice_tokenizer_get_n_vocab (get ("o200k_base")), ==, 200019);
}

static void
test_unknown_encoding (void)
{
  g_autoptr(GError) error = NULL;

  g_assert_null (sluice_tokenizer_get ("p50k_base", &error));
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "p50k_base"));
}

static void
test_special_tokens (void)
{
  SluiceTokenizer *cl100k = get ("cl100k_base");
  SluiceTokenizer *o200k = get ("o200k_base");
  g_autoptr(GError) error = NULL;
  g_autofree guint32 *tokens = NULL;
  gsize n = 0;

  /* Refused by default, saying which token and where. */
  g_assert_null (sluice_tokenizer_encode (cl100k, "hello <|endoftext|>", -1, SLUICE_SPECIAL_TOKENS_DISALLOW, &n, &error));
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "<|endoftext|>"));
  g_assert_nonnull (strstr (error->message, "byte 6"));
  g_assert_cmpuint (n, ==, 0);
  g_clear_error (&error);
  g_assert_cmpint (sluice_tokenizer_count (o200k, "x<|endofprompt|>", -1, SLUICE_SPECIAL_TOKENS_DISALLOW, &error), ==, -1);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
  g_clear_error (&error);
  /* Only the encoding's own special tokens count: o200k has no <|fim_prefix|>. */
  g_assert_cmpint (sluice_tokenizer_count (o200k, "<|fim_prefix|>", -1, SLUICE_SPECIAL_TOKENS_DISALLOW, &error), >, 1);
  g_assert_no_error (error);

  /* Allowed: the special token's id. */
  tokens = sluice_tokenizer_encode (cl100k, "hello <|endoftext|>", -1, SLUICE_SPECIAL_TOKENS_ALLOW, &n, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (tokens, n * sizeof (guint32), ((guint32[]) { 15339, 220, 100257 }), 3 * sizeof (guint32));
  g_clear_pointer (&tokens, g_free);
  tokens = sluice_tokenizer_encode (o200k, "<|endoftext|>", -1, SLUICE_SPECIAL_TOKENS_ALLOW, &n, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (tokens, n * sizeof (guint32), ((guint32[]) { 199999 }), sizeof (guint32));
  g_clear_pointer (&tokens, g_free);

  /* As text: ordinary tokens, several of them. */
  g_assert_cmpint (sluice_tokenizer_count (cl100k, "<|endoftext|>", -1, SLUICE_SPECIAL_TOKENS_AS_TEXT, &error), >, 1);
  g_assert_no_error (error);
}

/* OpenAI's cookbook ("How to count tokens with tiktoken"), whose counts
 * the API confirmed: 129 prompt tokens for gpt-3.5-turbo and gpt-4, 124
 * for gpt-4o and gpt-4o-mini. */
static const char cookbook_messages[] =
  "[{\"role\": \"system\", \"content\": \"You are a helpful, pattern-following assistant that translates corporate jargon into plain English.\"},"
  " {\"role\": \"system\", \"name\": \"example_user\", \"content\": \"New synergies will help drive top-line growth.\"},"
  " {\"role\": \"system\", \"name\": \"example_assistant\", \"content\": \"Things working well together will increase revenue.\"},"
  " {\"role\": \"system\", \"name\": \"example_user\", \"content\": \"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.\"},"
  " {\"role\": \"system\", \"name\": \"example_assistant\", \"content\": \"Let's talk later when we're less busy about how to do better.\"},"
  " {\"role\": \"user\", \"content\": \"This late pivot means we don't have time to boil the ocean for the client deliverable.\"}]";

static JsonArray *
parse_messages (const char *json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = json_from_string (json, &error);

  g_assert_no_error (error);
  return json_array_ref (json_node_get_array (node));
}

static void
test_chat_overhead (void)
{
  g_autoptr(JsonArray) messages = parse_messages (cookbook_messages);
  g_autoptr(JsonArray) hello = parse_messages ("[{\"role\": \"user\", \"content\": \"Hello, how are you?\"}]");
  g_autoptr(JsonArray) bot = parse_messages ("[{\"role\": \"system\", \"content\": \"You are a bot.\"}]");
  g_autoptr(JsonArray) named = parse_messages ("[{\"role\": \"system\", \"name\": \"example_user\", "
                                              "\"content\": \"New synergies will help drive top-line growth.\"}]");
  g_autoptr(JsonArray) parts = parse_messages ("[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Hello, how are you?\"}]}]");
  g_autoptr(JsonArray) image = parse_messages ("[{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"https://x/y.png\"}}]}]");
  gboolean exact = FALSE, estimated = TRUE;

  g_assert_cmpint (sluice_tokenizer_count_messages (get ("cl100k_base"), messages, &exact), ==, 129);
  g_assert_true (exact);
  g_assert_cmpint (sluice_tokenizer_count_messages (get ("o200k_base"), messages, &exact), ==, 124);
  g_assert_true (exact);
  /* Counts from openai-messages-token-helper's tests, taken from the API. */
  g_assert_cmpint (sluice_tokenizer_count_messages (get ("o200k_base"), hello, NULL), ==, 13);
  g_assert_cmpint (sluice_tokenizer_count_messages (get ("o200k_base"), bot, NULL), ==, 12);
  g_assert_cmpint (sluice_tokenizer_count_messages (get ("o200k_base"), named, NULL), ==, 20);
  /* A text part counts as its text. */
  g_assert_cmpint (sluice_tokenizer_count_messages (get ("o200k_base"), parts, &exact), ==, 13);
  g_assert_true (exact);
  /* No messages: only the reply's priming. */
  g_assert_cmpint (sluice_tokenizer_count_messages (get ("o200k_base"), NULL, NULL), ==, 3);
  /* An image part cannot be counted exactly. */
  sluice_tokenizer_count_messages (get ("o200k_base"), image, &exact);
  g_assert_false (exact);

  /* Through the model map. */
  g_assert_cmpint (sluice_count_prompt_tokens (messages, "openai", "gpt-4o-mini", 0, &estimated), ==, 124);
  g_assert_false (estimated);
  g_assert_cmpint (sluice_count_prompt_tokens (messages, "openai", "gpt-4-0613", 0, &estimated), ==, 129);
  g_assert_false (estimated);
  g_assert_cmpint (sluice_count_prompt_tokens (messages, "openai-compatible", "gpt-3.5-turbo-16k", 0, &estimated), ==, 129);
  g_assert_false (estimated);
  /* Elsewhere: o200k's count times the safety factor, rounded up, marked. */
  g_assert_cmpint (sluice_count_prompt_tokens (messages, "anthropic", "claude-haiku-4-5", 0, &estimated), ==, 137);
  g_assert_true (estimated);
  g_assert_cmpint (sluice_count_prompt_tokens (messages, "gemini", "gemini-2.5-flash", 1.5, &estimated), ==, 186);
  g_assert_true (estimated);
  g_assert_cmpint (sluice_count_prompt_tokens (messages, "openai-compatible", "llama3.1:8b", 1.0, &estimated), ==, 124);
  g_assert_true (estimated);
}

static void
test_model_map (void)
{
  SluiceCatalog *catalog = sluice_catalog_get_default ();
  const struct { const char *provider, *model, *encoding; } cases[] = {
    { "openai", "gpt-4o", "o200k_base" },
    { "openai", "gpt-4o-2024-08-06", "o200k_base" },
    { "openai", "gpt-4o-mini", "o200k_base" },
    { "openai", "gpt-4.1-nano", "o200k_base" },
    { "openai", "o1", "o200k_base" },
    { "openai", "o3-mini", "o200k_base" },
    { "openai", "o4-mini-2025-04-16", "o200k_base" },
    { "openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base" },
    { "openai-compatible", "openai/gpt-4.1", "o200k_base" },
    { "openai", "gpt-4", "cl100k_base" },
    { "openai", "gpt-4-0613", "cl100k_base" },
    { "openai", "gpt-4-turbo", "cl100k_base" },
    { "openai", "gpt-3.5-turbo-0125", "cl100k_base" },
    { "openai", "text-embedding-3-small", "cl100k_base" },
    { "openai", "o1x", NULL },
    { "anthropic", "claude-haiku-4-5", NULL },
    { "gemini", "gemini-2.5-pro", NULL },
    { "openai-compatible", "llama3.1:8b", NULL },
    { "openai", NULL, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s/%s", cases[i].provider, cases[i].model);
      g_assert_cmpstr (sluice_catalog_get_tokenizer (catalog, cases[i].provider, cases[i].model), ==, cases[i].encoding);
    }
  g_assert_true (sluice_tokenizer_get_for_model ("openai", "gpt-4o") == get ("o200k_base"));
  g_assert_null (sluice_tokenizer_get_for_model ("anthropic", "claude-sonnet-4-5"));
}

/* A megabyte in one piece must merge in near-linear time (a heap of
 * pairs), not quadratic: these finish in well under a second. */
static void
test_one_megabyte_word (void)
{
  const gsize size = 1 << 20;
  g_autofree char *text = g_malloc (size + 1);
  const char *fills[] = { "x", "X", "ab", " ", "\n", " \n", "!", "0", "\xe4\xb8\x80" /* 一 */, "\xc3\xa9" /* é */, "Xy" };

  for (guint f = 0; f < G_N_ELEMENTS (fills); f++)
    {
      gsize len = strlen (fills[f]), n = 0;

      for (gsize i = 0; i + len <= size; i += len)
        memcpy (text + i, fills[f], len);
      n = size / len * len;
      text[n] = '\0';
      for (guint e = 0; e < 2; e++)
        {
          SluiceTokenizer *tokenizer = get (e == 0 ? "cl100k_base" : "o200k_base");
          g_autoptr(GError) error = NULL;
          g_autofree guint32 *tokens = NULL;
          g_autofree char *decoded = NULL;
          gsize n_tokens = 0, decoded_len = 0;
          gint64 start = g_get_monotonic_time ();

          tokens = sluice_tokenizer_encode (tokenizer, text, n, SLUICE_SPECIAL_TOKENS_DISALLOW, &n_tokens, &error);
          g_assert_no_error (error);
          g_test_message ("%s: 1 MB of '%s': %" G_GSIZE_FORMAT " tokens in %.1f ms", sluice_tokenizer_get_name (tokenizer),
                          fills[f], n_tokens, (g_get_monotonic_time () - start) / 1000.0);
          g_assert_cmpuint (n_tokens, >, 0);
          g_assert_cmpuint (n_tokens, <=, n);
          decoded = sluice_tokenizer_decode (tokenizer, tokens, n_tokens, &decoded_len);
          g_assert_cmpmem (decoded, decoded_len, text, n);
        }
    }
}

/* The heap merge picks the same pairs as tiktoken's scan: every piece of
 * random words (letters from small alphabets, so that they merge a lot;
 * Han characters; up to 700 bytes) merged both ways gives the same ids. */
static void
test_heap_merge_is_tiktokens (void)
{
  const char *alphabets[] = { "ab", "abc", "etaoinsh", "xyzXYZ", "\xe4\xb8\x80\xe4\xba\x8c\xe4\xb8\x89\xe5\x9b\x9b" };
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  guint compared = 0;

  for (guint round = 0; round < 400; round++)
    {
      const char *alphabet = alphabets[round % G_N_ELEMENTS (alphabets)];
      gboolean han = (guchar) alphabet[0] >= 0x80;
      gsize n_symbols = han ? strlen (alphabet) / 3 : strlen (alphabet);
      guint length = g_rand_int_range (rand, 1, han ? 230 : 700);
      g_autoptr(GString) word = g_string_new (NULL);

      for (guint i = 0; i < length; i++)
        {
          guint k = g_rand_int_range (rand, 0, n_symbols);

          g_string_append_len (word, alphabet + (han ? 3 * k : k), han ? 3 : 1);
        }
      for (guint e = 0; e < 2; e++)
        {
          SluiceTokenizer *tokenizer = get (e == 0 ? "cl100k_base" : "o200k_base");
          g_autofree guint32 *by_scan = NULL, *by_heap = NULL;
          gsize n_scan = 0, n_heap = 0;

          _sluice_tokenizer_set_merge_heap_min (G_MAXSIZE);
          by_scan = sluice_tokenizer_encode (tokenizer, word->str, word->len, SLUICE_SPECIAL_TOKENS_DISALLOW, &n_scan, NULL);
          _sluice_tokenizer_set_merge_heap_min (1);
          by_heap = sluice_tokenizer_encode (tokenizer, word->str, word->len, SLUICE_SPECIAL_TOKENS_DISALLOW, &n_heap, NULL);
          _sluice_tokenizer_set_merge_heap_min (0);
          g_assert_cmpmem (by_heap, n_heap * sizeof (guint32), by_scan, n_scan * sizeof (guint32));
          compared++;
        }
    }
  g_test_message ("%u words merged both ways", compared);
}

static gpointer
count_in_thread (gpointer data)
{
  SluiceTokenizer *tokenizer = sluice_tokenizer_get (data, NULL);

  return GINT_TO_POINTER ((int) sluice_tokenizer_count (tokenizer, "hello world", -1, SLUICE_SPECIAL_TOKENS_DISALLOW, NULL));
}

static void
test_threads (void)
{
  GThread *threads[8];

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("count", count_in_thread, i % 2 ? "cl100k_base" : "o200k_base");
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (threads[i])), ==, 2);
}

static void
test_invalid_utf8 (void)
{
  g_autoptr(GError) error = NULL;
  gsize n = 0;
  /* A lone continuation byte is read as U+FFFD, as Python's errors="replace". */
  g_autofree guint32 *tokens = sluice_tokenizer_encode (get ("cl100k_base"), "a\x80", -1,
                                                        SLUICE_SPECIAL_TOKENS_DISALLOW, &n, &error);
  g_autofree guint32 *expected = sluice_tokenizer_encode (get ("cl100k_base"), "a\xef\xbf\xbd", -1,
                                                          SLUICE_SPECIAL_TOKENS_DISALLOW, &n, &error);

  g_assert_no_error (error);
  g_assert_cmpmem (tokens, n * sizeof (guint32), expected, n * sizeof (guint32));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/tokenizer/threads", test_threads);
  g_test_add_func ("/tokenizer/upstream", test_upstream);
  g_test_add_func ("/tokenizer/unknown-encoding", test_unknown_encoding);
  g_test_add_func ("/tokenizer/special-tokens", test_special_tokens);
  g_test_add_func ("/tokenizer/chat-overhead", test_chat_overhead);
  g_test_add_func ("/tokenizer/model-map", test_model_map);
  g_test_add_func ("/tokenizer/one-megabyte-word", test_one_megabyte_word);
  g_test_add_func ("/tokenizer/heap-merge-is-tiktokens", test_heap_merge_is_tiktokens);
  g_test_add_func ("/tokenizer/invalid-utf8", test_invalid_utf8);
  return g_test_run ();
}
