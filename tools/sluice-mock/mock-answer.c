/* mock-answer.c: names, durations, and the bodies of normal answers
 *
 * The sentiment classifier is deliberately tiny: count cue words from fixed
 * lists in the last user message. It only has to be deterministic and give
 * an answer that matches the sentiment schema, so tests can tell a good
 * answer from a broken one.
 */
#define G_LOG_DOMAIN "sluice-mock"

#include "mock-common.h"

#include <string.h>

static const char * const kind_names[MOCK_N_KINDS] = {
  [MOCK_KIND_OK] = "ok",
  [MOCK_KIND_RATE_LIMIT] = "rate_limit",
  [MOCK_KIND_SERVER_ERROR] = "server_error",
  [MOCK_KIND_OVERLOADED] = "overloaded",
  [MOCK_KIND_HANG] = "hang",
  [MOCK_KIND_MALFORMED] = "malformed",
  [MOCK_KIND_HTML] = "html",
  [MOCK_KIND_BAD_ANSWER] = "bad_answer",
  [MOCK_KIND_STATUS] = "status",
  [MOCK_KIND_CUT] = "cut",
  [MOCK_KIND_STALL] = "stall",
  [MOCK_KIND_MALFORMED_CHUNK] = "malformed_chunk",
  [MOCK_KIND_NO_USAGE] = "no_usage",
  [MOCK_KIND_INVALID_REQUEST] = "invalid_request",
  [MOCK_KIND_UNAUTHORIZED] = "unauthorized",
  [MOCK_KIND_NOT_FOUND] = "not_found",
};

const char *
mock_kind_name (MockKind kind)
{
  g_return_val_if_fail (kind < MOCK_N_KINDS, "unknown");
  return kind_names[kind];
}

gboolean
mock_kind_from_name (const char *name,
                     MockKind   *out_kind)
{
  for (guint i = 0; i < MOCK_N_SERVE_KINDS; i++)
    {
      if (g_strcmp0 (name, kind_names[i]) == 0)
        {
          *out_kind = (MockKind) i;
          return TRUE;
        }
    }
  return FALSE;
}

static const char * const bad_variant_names[MOCK_N_BAD_VARIANTS] = {
  [MOCK_BAD_LABEL] = "bad_label",
  [MOCK_BAD_CONFIDENCE] = "bad_confidence",
  [MOCK_BAD_MISSING_REASONING] = "missing_reasoning",
  [MOCK_BAD_PROSE] = "prose",
};

const char *
mock_bad_variant_name (MockBadVariant variant)
{
  g_return_val_if_fail (variant < MOCK_N_BAD_VARIANTS, "unknown");
  return bad_variant_names[variant];
}

gboolean
mock_bad_variant_from_name (const char     *name,
                            MockBadVariant *out_variant)
{
  for (guint i = 0; i < MOCK_N_BAD_VARIANTS; i++)
    {
      if (g_strcmp0 (name, bad_variant_names[i]) == 0)
        {
          *out_variant = (MockBadVariant) i;
          return TRUE;
        }
    }
  return FALSE;
}

/* "250ms", "1.5s", "600s", "2m", "100us"; a bare number means milliseconds. */
gboolean
mock_parse_duration (const char *text,
                     gint64     *out_us)
{
  const char *p;
  char *end = NULL;
  double value, scale;

  if (text == NULL)
    return FALSE;
  p = text;
  while (g_ascii_isspace (*p))
    p++;
  if (!g_ascii_isdigit (*p) && *p != '.')
    return FALSE;
  value = g_ascii_strtod (p, &end);
  if (end == p || value < 0 || value > 1e9)
    return FALSE;
  p = end;
  while (g_ascii_isspace (*p))
    p++;

  if (*p == '\0' || g_str_equal (p, "ms"))
    scale = 1e3;
  else if (g_str_equal (p, "us"))
    scale = 1;
  else if (g_str_equal (p, "s"))
    scale = 1e6;
  else if (g_str_equal (p, "m") || g_str_equal (p, "min"))
    scale = 60e6;
  else if (g_str_equal (p, "h"))
    scale = 3600e6;
  else
    return FALSE;

  *out_us = (gint64) (value * scale + 0.5);
  return TRUE;
}

gboolean
mock_parse_latency (const char  *text,
                    MockLatency *out_latency,
                    GError     **error)
{
  MockLatency latency = { MOCK_LATENCY_FIXED, 0, 0 };
  const char *args = NULL;

  if (g_str_has_prefix (text, "uniform:"))
    {
      latency.dist = MOCK_LATENCY_UNIFORM;
      args = text + strlen ("uniform:");
    }
  else if (g_str_has_prefix (text, "normal:"))
    {
      latency.dist = MOCK_LATENCY_NORMAL;
      args = text + strlen ("normal:");
    }

  if (args == NULL)
    {
      if (!mock_parse_duration (text, &latency.a_us))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "bad latency \"%s\": expected a duration like 50ms or 1s, "
                       "uniform:MIN,MAX or normal:MEAN,STDDEV", text);
          return FALSE;
        }
    }
  else
    {
      g_auto(GStrv) parts = g_strsplit (args, ",", -1);

      if (g_strv_length (parts) != 2 ||
          !mock_parse_duration (parts[0], &latency.a_us) ||
          !mock_parse_duration (parts[1], &latency.b_us))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "bad latency \"%s\": expected %s:DURATION,DURATION "
                       "(for example uniform:20ms,200ms)", text,
                       latency.dist == MOCK_LATENCY_UNIFORM ? "uniform" : "normal");
          return FALSE;
        }
      if (latency.dist == MOCK_LATENCY_UNIFORM && latency.b_us < latency.a_us)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "bad latency \"%s\": the minimum is above the maximum", text);
          return FALSE;
        }
    }

  *out_latency = latency;
  return TRUE;
}

gint64
mock_latency_draw (const MockLatency *latency,
                   guint64            r1,
                   guint64            r2)
{
  switch (latency->dist)
    {
    case MOCK_LATENCY_FIXED:
      return latency->a_us;

    case MOCK_LATENCY_UNIFORM:
      return latency->a_us +
        (gint64) (mock_unit (r1) * (double) (latency->b_us - latency->a_us) + 0.5);

    case MOCK_LATENCY_NORMAL:
      {
        /* Irwin-Hall: the sum of 12 uniforms minus 6 is close enough to a
         * standard normal for a mock, and needs no libm. */
        guint64 state = r1 ^ (r2 << 1);
        double z = -6.0, v;

        for (int i = 0; i < 12; i++)
          z += mock_unit (mock_splitmix64 (&state));
        v = (double) latency->a_us + z * (double) latency->b_us;
        return v <= 0 ? 0 : (gint64) (v + 0.5);
      }

    default:
      g_assert_not_reached ();
    }
}

/* JSON */

void
mock_append_json_string (GString    *out,
                         const char *text,
                         gsize       len)
{
  static const char hex[] = "0123456789abcdef";
  gsize run = 0;

  g_string_append_c (out, '"');
  for (gsize i = 0; i < len; i++)
    {
      guchar c = (guchar) text[i];
      const char *esc = NULL;
      char ubuf[7];

      if (c >= 0x20 && c != '"' && c != '\\')
        continue;

      g_string_append_len (out, text + run, (gssize) (i - run));
      run = i + 1;
      switch (c)
        {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
          ubuf[0] = '\\';
          ubuf[1] = 'u';
          ubuf[2] = '0';
          ubuf[3] = '0';
          ubuf[4] = hex[c >> 4];
          ubuf[5] = hex[c & 15];
          ubuf[6] = '\0';
          esc = ubuf;
          break;
        }
      g_string_append (out, esc);
    }
  g_string_append_len (out, text + run, (gssize) (len - run));
  g_string_append_c (out, '"');
}

/* Sentiment */

static const char * const positive_words[] = {
  /* English */
  "good", "great", "excellent", "love", "loved", "loves", "lovely", "wonderful",
  "amazing", "awesome", "fantastic", "perfect", "best", "happy", "nice",
  "brilliant", "superb", "outstanding", "recommend", "recommended", "delighted",
  "pleased", "enjoy", "enjoyed", "beautiful", "helpful", "satisfied", "glad",
  /* German */
  "gut", "super", "toll", "prima", "wunderbar", "ausgezeichnet", "hervorragend",
  "fantastisch", "zufrieden", "klasse", "empfehlenswert",
  /* French */
  "génial", "bon", "bien", "magnifique", "parfait", "merveilleux", "adore",
  "formidable", "satisfait",
  /* Spanish */
  "excelente", "bueno", "genial", "maravilloso", "perfecto", "encanta",
  "fantástico", "increíble",
  /* Italian */
  "ottimo", "buono", "bello", "eccellente", "fantastico", "perfetto",
  "meraviglioso", "adoro",
  /* Portuguese */
  "ótimo", "bom", "maravilhoso", "perfeito", "adorei", "incrível",
  /* Dutch */
  "geweldig", "goed", "uitstekend", "mooi", "tevreden",
};

static const char * const negative_words[] = {
  /* English */
  "bad", "terrible", "awful", "horrible", "broken", "refund", "worst", "poor",
  "hate", "hated", "disappointing", "disappointed", "useless", "defective",
  "waste", "angry", "annoying", "rude", "faulty", "damaged", "failed",
  "garbage", "unhappy",
  /* German */
  "schlecht", "schrecklich", "furchtbar", "kaputt", "enttäuscht",
  "enttäuschend", "mies", "nutzlos", "defekt",
  /* French */
  "nul", "nulle", "mauvais", "cassé", "déçu", "décevant", "affreux",
  "remboursement",
  /* Spanish */
  "malo", "mala", "pésimo", "roto", "decepcionado", "reembolso",
  /* Italian */
  "pessimo", "brutto", "terribile", "rotto", "deluso", "orribile", "rimborso",
  /* Portuguese */
  "péssimo", "ruim", "horrível", "quebrado", "terrível",
  /* Dutch */
  "slecht", "verschrikkelijk", "kapot", "teleurgesteld", "waardeloos",
  "vreselijk",
};

/* word -> GINT_TO_POINTER (+1 or -1); keys are the static strings above. */
static GHashTable *cue_words;
/* Reused for every answer: the server is single-threaded. */
static GString *reasoning_scratch;

void
mock_sentiment_init (void)
{
  cue_words = g_hash_table_new (g_str_hash, g_str_equal);
  for (gsize i = 0; i < G_N_ELEMENTS (positive_words); i++)
    g_hash_table_insert (cue_words, (gpointer) positive_words[i], GINT_TO_POINTER (1));
  for (gsize i = 0; i < G_N_ELEMENTS (negative_words); i++)
    g_hash_table_insert (cue_words, (gpointer) negative_words[i], GINT_TO_POINTER (-1));
  reasoning_scratch = g_string_sized_new (256);
}

void
mock_sentiment_shutdown (void)
{
  g_clear_pointer (&cue_words, g_hash_table_unref);
  if (reasoning_scratch != NULL)
    g_string_free (g_steal_pointer (&reasoning_scratch), TRUE);
}

#define MAX_NAMED_CUES 8
#define MAX_WORD_BYTES 64

typedef struct {
  guint       count;                     /* every occurrence */
  guint       n_named;                   /* distinct words kept for the text */
  const char *named[MAX_NAMED_CUES];
} CueTally;

static void
tally_word (CueTally   *pos,
            CueTally   *neg,
            const char *word)
{
  gpointer key, value;
  CueTally *t;

  if (!g_hash_table_lookup_extended (cue_words, word, &key, &value))
    return;
  t = GPOINTER_TO_INT (value) > 0 ? pos : neg;
  t->count++;
  for (guint i = 0; i < t->n_named; i++)
    if (t->named[i] == key)
      return;
  if (t->n_named < MAX_NAMED_CUES)
    t->named[t->n_named++] = key;
}

/* Splits @text into lower-cased words (letters and digits in any script)
 * without allocating, and tallies the cue words. */
static void
count_cues (const char *text,
            gsize       len,
            CueTally   *pos,
            CueTally   *neg)
{
  char word[MAX_WORD_BYTES + 8];
  gsize wlen = 0;
  gboolean too_long = FALSE;
  const char *p = text, *end = text + len;

  while (p <= end)
    {
      gunichar c;
      gboolean is_word;

      if (p == end)
        {
          c = 0;
          is_word = FALSE;
        }
      else if ((guchar) *p < 0x80)
        {
          c = (guchar) *p++;
          is_word = g_ascii_isalnum (c);
          c = g_ascii_tolower (c);
        }
      else
        {
          c = g_utf8_get_char_validated (p, end - p);
          if (c == (gunichar) -1 || c == (gunichar) -2)
            {
              p++;   /* not UTF-8: treat the byte as a separator */
              is_word = FALSE;
            }
          else
            {
              p = g_utf8_next_char (p);
              is_word = g_unichar_isalnum (c);
              c = g_unichar_tolower (c);
            }
        }

      if (is_word)
        {
          if (wlen + 6 > MAX_WORD_BYTES)
            too_long = TRUE;
          else
            wlen += g_unichar_to_utf8 (c, word + wlen);
          continue;
        }

      if (wlen > 0 && !too_long)
        {
          word[wlen] = '\0';
          tally_word (pos, neg, word);
        }
      wlen = 0;
      too_long = FALSE;
      if (p == end)
        break;
    }
}

static void
append_cue_list (GString        *out,
                 const CueTally *t)
{
  g_string_append (out, " (");
  for (guint i = 0; i < t->n_named; i++)
    {
      if (i > 0)
        g_string_append (out, ", ");
      g_string_append_c (out, '"');
      g_string_append (out, t->named[i]);
      g_string_append_c (out, '"');
    }
  if (t->n_named < t->count && t->n_named == MAX_NAMED_CUES)
    g_string_append (out, ", ...");
  g_string_append_c (out, ')');
}

static void
append_reasoning (GString        *out,
                  const CueTally *pos,
                  const CueTally *neg,
                  const char     *sentiment)
{
  if (pos->count == 0 && neg->count == 0)
    {
      g_string_append (out, "No positive or negative cue words were found, so the text reads as neutral.");
      return;
    }

  g_string_append_printf (out, "Counted %u positive cue word%s", pos->count,
                          pos->count == 1 ? "" : "s");
  if (pos->count > 0)
    append_cue_list (out, pos);
  g_string_append_printf (out, " and %u negative cue word%s", neg->count,
                          neg->count == 1 ? "" : "s");
  if (neg->count > 0)
    append_cue_list (out, neg);
  g_string_append_printf (out, ", so the text reads as %s.", sentiment);
}

static void
append_confidence (GString *out,
                   guint    hundredths)
{
  g_string_append_printf (out, "%u.%02u", hundredths / 100, hundredths % 100);
}

void
mock_append_sentiment_answer (GString    *out,
                              const char *text,
                              gsize       len,
                              gint        variant)
{
  CueTally pos = { 0, }, neg = { 0, };
  const char *sentiment;
  guint confidence, margin;
  GString *reasoning;

  count_cues (text, len, &pos, &neg);

  margin = pos.count > neg.count ? pos.count - neg.count : neg.count - pos.count;
  if (margin == 0)
    {
      sentiment = "neutral";
      confidence = (pos.count + neg.count) == 0 ? 55 : 50;
    }
  else
    {
      guint mixed = MIN (pos.count, neg.count);

      sentiment = pos.count > neg.count ? "positive" : "negative";
      confidence = 60 + 13 * MIN (margin, 3u);
      confidence = confidence > 5 * mixed + 51 ? confidence - 5 * mixed : 51;
      confidence = MIN (confidence, 99u);
    }

  if (variant == MOCK_BAD_PROSE)
    {
      g_string_append_printf (out,
                              "Looking at the wording, I would say the overall tone is %s. "
                              "Let me know if you need anything else.", sentiment);
      return;
    }

  /* The reasoning is built once, then escaped into the answer. */
  reasoning = reasoning_scratch;
  g_string_truncate (reasoning, 0);
  append_reasoning (reasoning, &pos, &neg, sentiment);

  g_string_append (out, "{\"sentiment\": \"");
  g_string_append (out, variant == MOCK_BAD_LABEL ? "happy" : sentiment);
  g_string_append (out, "\", \"confidence\": ");
  if (variant == MOCK_BAD_CONFIDENCE)
    g_string_append (out, "1.7");
  else
    append_confidence (out, confidence);
  if (variant != MOCK_BAD_MISSING_REASONING)
    {
      g_string_append (out, ", \"reasoning\": ");
      mock_append_json_string (out, reasoning->str, reasoning->len);
    }
  g_string_append_c (out, '}');
}
