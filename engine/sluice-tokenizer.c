/* sluice-tokenizer.c — tiktoken's byte-pair encoding in C
 *
 * Encoding is tiktoken's: the text is split at special tokens (when they
 * are allowed), each stretch is cut into pieces by the encoding's
 * pre-tokenizer regex, and each piece is either a token itself or merged
 * byte pair by byte pair, lowest rank first, leftmost first among equal
 * ranks.
 *
 * - The regexes are upstream's, matched by PCRE2 (JIT, one match block
 *   per thread), with one change: `\s` is spelt out as Unicode White_Space
 *   (what Rust's regex, which tiktoken uses, means by it); PCRE2's `\s`
 *   lacks U+0085.
 * - Ranks live in one open-addressed table keyed by the token's bytes
 *   (the bytes themselves in one arena, the first 8 in the slot so that
 *   short lookups touch one cache line), built once per encoding, when
 *   first asked for, from data/ENCODING.tiktoken; tables of the 256 bytes
 *   and 65536 byte pairs start every merge without a lookup.
 * - Merging scans the pairs of a short piece, as tiktoken does; a long
 *   piece (from MERGE_HEAP_MIN bytes) is merged through a binary heap of
 *   pairs over a linked list of parts, so that a 1 MB "word" costs
 *   O(n log n) instead of O(n²). Both pick the same pair at each step
 *   (the lowest rank, then the leftmost) and carry each part's token, so
 *   only the pairs merges create are looked up.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-tokenizer"
#define PCRE2_CODE_UNIT_WIDTH 8

#include "sluice-private.h"

#include <math.h>
#include <pcre2.h>
#include <string.h>

/* Unicode White_Space, as Rust's regex `\s`. */
#define WS "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

static const char cl100k_pattern[] =
  "'(?i:[sdmt]|ll|ve|re)"
  "|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}++"
  "|\\p{N}{1,3}+"
  "| ?[^" WS "\\p{L}\\p{N}]++[\\r\\n]*+"
  "|[" WS "]++$"
  "|[" WS "]*[\\r\\n]"
  "|[" WS "]+(?![^" WS "])"
  "|[" WS "]";

static const char o200k_pattern[] =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
  "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
  "|\\p{N}{1,3}"
  "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n/]*"
  "|[" WS "]*[\\r\\n]+"
  "|[" WS "]+(?![^" WS "])"
  "|[" WS "]+";

typedef struct {
  const char *text;
  guint32     rank;
} Special;

static const Special cl100k_specials[] = {
  { "<|endoftext|>", 100257 },
  { "<|fim_prefix|>", 100258 },
  { "<|fim_middle|>", 100259 },
  { "<|fim_suffix|>", 100260 },
  { "<|endofprompt|>", 100276 },
  { NULL, 0 },
};

static const Special o200k_specials[] = {
  { "<|endoftext|>", 199999 },
  { "<|endofprompt|>", 200018 },
  { NULL, 0 },
};

typedef struct {
  const char    *name;
  const char    *pattern;
  const Special *specials;
  guint          n_ranks;    /* lines in the rank file */
  guint          n_vocab;
} EncodingInfo;

static const EncodingInfo encodings[] = {
  { "cl100k_base", cl100k_pattern, cl100k_specials, 100256, 100277 },
  { "o200k_base", o200k_pattern, o200k_specials, 199998, 200019 },
};

#define NO_RANK G_MAXUINT32
#define MERGE_HEAP_MIN 32
/* Tests move it to compare the heap with tiktoken's scan. */
static gsize merge_heap_min = MERGE_HEAP_MIN;
#define MERGE_STACK 512   /* bytes of a piece merged without allocating */

/* A slot holds its key's first bytes, so that most lookups (pieces of up
 * to 8 bytes) compare without touching the arena: one cache line each. */
typedef struct {
  guint64 head;       /* see load_head() */
  guint32 tag;        /* high half of the hash */
  guint32 rank_len;   /* rank | length << 18; EMPTY: free */
} Slot;

#define RANK_BITS 18
#define RANK_MASK ((1u << RANK_BITS) - 1)
#define EMPTY G_MAXUINT32

struct _SluiceTokenizer
{
  GObject             parent_instance;

  const EncodingInfo *info;
  pcre2_code         *code;
  gboolean            jit;

  guint8             *arena;     /* every token's bytes, by rank */
  guint32            *offsets;   /* n_ranks + 1 */
  guint               n_ranks;
  Slot               *slots;
  guint64             mask;
  guint32             byte_ranks[256];
  guint32            *pair_ranks;   /* 65536: the rank of two bytes, or NO_RANK */
};

G_DEFINE_FINAL_TYPE (SluiceTokenizer, sluice_tokenizer, G_TYPE_OBJECT)

static void
sluice_tokenizer_finalize (GObject *object)
{
  SluiceTokenizer *self = SLUICE_TOKENIZER (object);

  g_clear_pointer (&self->code, pcre2_code_free);
  g_free (self->arena);
  g_free (self->offsets);
  g_free (self->slots);
  g_free (self->pair_ranks);

  G_OBJECT_CLASS (sluice_tokenizer_parent_class)->finalize (object);
}

static void
sluice_tokenizer_class_init (SluiceTokenizerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_tokenizer_finalize;
}

static void
sluice_tokenizer_init (SluiceTokenizer *self)
{
}

/* ---- the rank table --------------------------------------------------------------- */

static inline guint64
mix (guint64 h)
{
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ull;
  h ^= h >> 32;
  return h;
}

static inline guint32
load32 (const guint8 *p)
{
  guint32 w;

  memcpy (&w, p, 4);
  return w;
}

static inline guint64
load64 (const guint8 *p)
{
  guint64 w;

  memcpy (&w, p, 8);
  return w;
}

/* Up to 8 bytes of the key, in a form that, with the length, names them
 * exactly: short keys are read with overlapping loads, never past their
 * end. */
static inline guint64
load_head (const guint8 *p,
           gsize         len)
{
  if (len >= 8)
    return load64 (p);
  if (len >= 4)
    return load32 (p) | (guint64) load32 (p + len - 4) << 32;
  return len == 0 ? 0 : (guint64) p[0] | (guint64) p[len / 2] << 8 | (guint64) p[len - 1] << 16;
}

static inline guint64
hash_key (guint64       head,
          const guint8 *p,
          gsize         len)
{
  guint64 h = (head ^ (0x9e3779b97f4a7c15ull * (len + 1))) * 0xbf58476d1ce4e5b9ull;

  if (G_UNLIKELY (len > 8))
    {
      gsize i;

      for (i = 8; i + 8 <= len; i += 8)
        h = ((h ^ (h >> 29)) ^ load64 (p + i)) * 0x94d049bb133111ebull;
      if (i < len)
        h = ((h ^ (h >> 29)) ^ load64 (p + len - 8)) * 0x94d049bb133111ebull;
    }
  return mix (h);
}

static inline guint32
lookup_hashed (SluiceTokenizer *self,
               const guint8    *p,
               gsize            len,
               guint64          head,
               guint64          h)
{
  guint32 tag = (guint32) (h >> 32);

  for (guint64 i = h & self->mask;; i = (i + 1) & self->mask)
    {
      const Slot *slot = &self->slots[i];

      if (slot->rank_len == EMPTY)
        return NO_RANK;
      if (slot->tag == tag && slot->head == head && slot->rank_len >> RANK_BITS == len &&
          (len <= 8 || memcmp (self->arena + self->offsets[slot->rank_len & RANK_MASK] + 8, p + 8, len - 8) == 0))
        return slot->rank_len & RANK_MASK;
    }
}

static inline guint32
lookup_rank (SluiceTokenizer *self,
             const guint8    *p,
             gsize            len)
{
  guint64 head = load_head (p, len);

  return lookup_hashed (self, p, len, head, hash_key (head, p, len));
}

static const gint8 *
base64_table (void)
{
  static gint8 table[256];
  static gsize done;

  if (g_once_init_enter (&done))
    {
      const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

      memset (table, -1, sizeof table);
      for (int i = 0; i < 64; i++)
        table[(guint8) alphabet[i]] = i;
      g_once_init_leave (&done, 1);
    }
  return table;
}

/* Decodes one base64 token into @out; returns its length, -1 if bad. */
static gssize
decode_base64 (const gint8 *table,
               const char  *p,
               const char  *end,
               guint8      *out)
{
  guint32 acc = 0;
  int bits = 0;
  gssize n = 0;

  for (; p < end && *p != '='; p++)
    {
      gint8 v = table[(guint8) *p];

      if (v < 0)
        return -1;
      acc = acc << 6 | (guint32) v;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          out[n++] = (guint8) (acc >> bits);
        }
    }
  return n;
}

static gboolean
load_ranks (SluiceTokenizer *self,
            const char      *path,
            GError         **error)
{
  const gint8 *table = base64_table ();
  g_autofree char *contents = NULL;
  gsize size = 0, used = 0;
  const char *p, *end;
  guint n = 0;

  if (!g_file_get_contents (path, &contents, &size, error))
    return FALSE;

  /* Decoded bytes are at most 3/4 of the file. */
  self->arena = g_malloc (size / 4 * 3 + 16);
  self->offsets = g_new (guint32, self->info->n_ranks + 1);
  self->n_ranks = self->info->n_ranks;
  g_assert (self->n_ranks <= RANK_MASK);

  for (p = contents, end = contents + size; p < end; n++)
    {
      const char *eol = memchr (p, '\n', end - p);
      const char *space;
      gssize len;
      guint64 rank;
      char *rank_end = NULL;

      if (eol == NULL)
        eol = end;
      space = memchr (p, ' ', eol - p);
      if (space == NULL || n >= self->n_ranks ||
          (len = decode_base64 (table, p, space, self->arena + used)) <= 0 ||
          (rank = g_ascii_strtoull (space + 1, &rank_end, 10)) != n || rank_end != eol)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED,
                       "%s:%u: expected 'BASE64 %u' (the ranks of %s, one a line, from 0)",
                       path, n + 1, n, self->info->name);
          return FALSE;
        }
      self->offsets[n] = used;
      used += len;
      p = eol + 1;
    }
  if (n != self->n_ranks)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED,
                   "%s: %u ranks, %s has %u", path, n, self->info->name, self->n_ranks);
      return FALSE;
    }
  self->offsets[n] = used;

  /* Load factor at most 1/2: probes stay short. */
  self->mask = 1;
  while (self->mask < (guint64) n * 2)
    self->mask <<= 1;
  self->slots = g_new (Slot, self->mask);
  self->mask--;
  memset (self->slots, 0xff, (self->mask + 1) * sizeof (Slot));
  for (guint rank = 0; rank < n; rank++)
    {
      const guint8 *bytes = self->arena + self->offsets[rank];
      gsize len = self->offsets[rank + 1] - self->offsets[rank];
      guint64 head = load_head (bytes, len);
      guint64 h = hash_key (head, bytes, len);
      guint64 i = h & self->mask;

      if (len >= (1u << (32 - RANK_BITS)) || lookup_rank (self, bytes, len) != NO_RANK)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED,
                       "%s:%u: %s", path, rank + 1,
                       len >= (1u << (32 - RANK_BITS)) ? "a token too long" : "the same bytes as an earlier rank");
          return FALSE;
        }
      while (self->slots[i].rank_len != EMPTY)
        i = (i + 1) & self->mask;
      self->slots[i].head = head;
      self->slots[i].tag = (guint32) (h >> 32);
      self->slots[i].rank_len = rank | (guint32) len << RANK_BITS;
    }
  return TRUE;
}

static SluiceTokenizer *
tokenizer_load (const EncodingInfo *info,
                GError            **error)
{
  g_autoptr(SluiceTokenizer) self = g_object_new (SLUICE_TYPE_TOKENIZER, NULL);
  g_autofree char *file = g_strconcat (info->name, ".tiktoken", NULL);
  g_autofree char *path = g_build_filename (_sluice_get_data_dir (), file, NULL);
  int code_error = 0;
  PCRE2_SIZE offset = 0;

  self->info = info;
  self->code = pcre2_compile ((PCRE2_SPTR) info->pattern, PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &code_error, &offset, NULL);
  if (self->code == NULL)
    {
      PCRE2_UCHAR message[256];

      pcre2_get_error_message (code_error, message, sizeof message);
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: pattern: %s at %" G_GSIZE_FORMAT,
                   info->name, (const char *) message, (gsize) offset);
      return NULL;
    }
  self->jit = pcre2_jit_compile (self->code, PCRE2_JIT_COMPLETE) == 0;

  if (!load_ranks (self, path, error))
    return NULL;

  /* Every merge starts from single bytes and their pairs: tables for
   * those spare a third of the lookups, and stay in the cache. */
  self->pair_ranks = g_new (guint32, 65536);
  for (guint a = 0; a < 256; a++)
    {
      guint8 bytes[2] = { a, 0 };

      self->byte_ranks[a] = lookup_rank (self, bytes, 1);
      if (self->byte_ranks[a] == NO_RANK)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED,
                       "%s: byte %u has no rank: not a byte-level encoding", path, a);
          return NULL;
        }
      for (guint b = 0; b < 256; b++)
        {
          bytes[1] = b;
          self->pair_ranks[a << 8 | b] = lookup_rank (self, bytes, 2);
        }
    }
  return g_steal_pointer (&self);
}

typedef struct {
  gsize            state;   /* g_once: 0 until tried */
  SluiceTokenizer *tokenizer;
  GError          *error;
} Loaded;

static Loaded loaded[G_N_ELEMENTS (encodings)];

SluiceTokenizer *
sluice_tokenizer_get (const char  *encoding,
                      GError     **error)
{
  for (guint i = 0; encoding != NULL && i < G_N_ELEMENTS (encodings); i++)
    {
      Loaded *slot = &loaded[i];

      if (!g_str_equal (encoding, encodings[i].name))
        continue;
      if (g_once_init_enter (&slot->state))
        {
          slot->tokenizer = tokenizer_load (&encodings[i], &slot->error);
          if (slot->tokenizer == NULL)
            g_warning ("tokenizer %s unavailable: %s", encoding, slot->error->message);
          g_once_init_leave (&slot->state, 1);
        }
      if (slot->tokenizer == NULL)
        g_propagate_error (error, g_error_copy (slot->error));
      return slot->tokenizer;
    }
  g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
               "unknown encoding '%s' (sluice has cl100k_base and o200k_base)", encoding ? encoding : "");
  return NULL;
}

SluiceTokenizer *
sluice_tokenizer_get_for_model (const char *provider,
                                const char *model)
{
  const char *encoding = sluice_catalog_get_tokenizer (sluice_catalog_get_default (), provider, model);

  return encoding != NULL ? sluice_tokenizer_get (encoding, NULL) : NULL;
}

const char *
sluice_tokenizer_get_name (SluiceTokenizer *self)
{
  g_return_val_if_fail (SLUICE_IS_TOKENIZER (self), NULL);
  return self->info->name;
}

guint
sluice_tokenizer_get_n_vocab (SluiceTokenizer *self)
{
  g_return_val_if_fail (SLUICE_IS_TOKENIZER (self), 0);
  return self->info->n_vocab;
}

/* ---- merging ---------------------------------------------------------------------- */

typedef struct {
  guint32 *data;
  gsize    len;
  gsize    cap;
  gboolean keep;   /* FALSE: only count */
} Out;

static inline void
out_push (Out     *out,
          guint32  token)
{
  if (out->keep)
    {
      if (G_UNLIKELY (out->len == out->cap))
        {
          out->cap = MAX (64, out->cap * 2);
          out->data = g_renew (guint32, out->data, out->cap);
        }
      out->data[out->len] = token;
    }
  out->len++;
}

/* tiktoken's own merge: pairs in an array, the lowest rank found by a
 * scan. Quadratic, and the fastest for the short pieces most are. */
static void
merge_short (SluiceTokenizer *self,
             const guint8    *piece,
             gsize            len,
             Out             *out)
{
  guint32 stack[3 * (MERGE_STACK + 1)];
  g_autofree guint32 *heap = len > MERGE_STACK ? g_new (guint32, 3 * (len + 1)) : NULL;
  guint32 *start = heap != NULL ? heap : stack;
  guint32 *rank = start + len + 1;    /* of the pair of parts i and i + 1 */
  guint32 *token = rank + len + 1;    /* of part i */
  gsize n = len + 1;   /* boundaries */

  for (gsize i = 0; i < n; i++)
    start[i] = i;
  for (gsize i = 0; i < len; i++)
    token[i] = self->byte_ranks[piece[i]];
  for (gsize i = 0; i + 2 < n; i++)
    rank[i] = self->pair_ranks[piece[i] << 8 | piece[i + 1]];
  rank[n - 2] = NO_RANK;

  for (;;)
    {
      guint32 min = NO_RANK;
      gsize at = 0;

      for (gsize i = 0; i + 1 < n; i++)
        if (rank[i] < min)
          {
            min = rank[i];
            at = i;
          }
      if (min == NO_RANK)
        break;
      /* Parts at and at+1 become one: rank the pairs it is now in. */
      if (at > 0)
        rank[at - 1] = lookup_rank (self, piece + start[at - 1], start[at + 2] - start[at - 1]);
      rank[at] = at + 3 < n ? lookup_rank (self, piece + start[at], start[at + 3] - start[at]) : NO_RANK;
      token[at] = min;
      memmove (start + at + 1, start + at + 2, (n - at - 2) * sizeof start[0]);
      memmove (rank + at + 1, rank + at + 2, (n - at - 2) * sizeof rank[0]);
      memmove (token + at + 1, token + at + 2, (n - at - 2) * sizeof token[0]);
      n--;
    }
  for (gsize i = 0; i + 1 < n; i++)
    out_push (out, token[i]);
}

/* Heap keys: rank in the high half, the pair's left part (its first
 * byte) in the low half, so the smallest key is tiktoken's choice. */
static inline void
heap_push (guint64 *heap,
           gsize   *n,
           guint64  key)
{
  gsize i = (*n)++;

  while (i > 0 && heap[(i - 1) / 2] > key)
    {
      heap[i] = heap[(i - 1) / 2];
      i = (i - 1) / 2;
    }
  heap[i] = key;
}

static inline guint64
heap_pop (guint64 *heap,
          gsize   *n)
{
  guint64 top = heap[0], last = heap[--(*n)];
  gsize i = 0;

  for (;;)
    {
      gsize child = 2 * i + 1;

      if (child >= *n)
        break;
      if (child + 1 < *n && heap[child + 1] < heap[child])
        child++;
      if (heap[child] >= last)
        break;
      heap[i] = heap[child];
      i = child;
    }
  if (*n > 0)
    heap[i] = last;
  return top;
}

/* Parts are named by their first byte; next[] links them (len: none),
 * pair[p] is the current rank of p with the part after it. A heap entry
 * whose rank no longer matches pair[] (or whose part was merged away) is
 * stale and skipped. */
static void
merge_long (SluiceTokenizer *self,
            const guint8    *piece,
            gsize            len,
            Out             *out)
{
  guint32 stack32[4 * MERGE_STACK];
  guint64 stack64[3 * MERGE_STACK];
  g_autofree guint32 *heap32 = len > MERGE_STACK ? g_new (guint32, 4 * len) : NULL;
  g_autofree guint64 *heap64 = len > MERGE_STACK ? g_new (guint64, 3 * len) : NULL;
  guint32 *next = heap32 != NULL ? heap32 : stack32;
  guint32 *prev = next + len;
  guint32 *pair = prev + len;
  guint32 *token = pair + len;   /* of the part starting there */
  guint64 *heap = heap64 != NULL ? heap64 : stack64;
  gsize n_heap = 0;

  g_assert (len < G_MAXUINT32);

  for (gsize i = 0; i < len; i++)
    {
      next[i] = i + 1;
      prev[i] = i == 0 ? G_MAXUINT32 : i - 1;
      token[i] = self->byte_ranks[piece[i]];
      pair[i] = i + 1 < len ? self->pair_ranks[piece[i] << 8 | piece[i + 1]] : NO_RANK;
      if (pair[i] != NO_RANK)
        heap_push (heap, &n_heap, (guint64) pair[i] << 32 | i);
    }

  while (n_heap > 0)
    {
      guint64 key = heap_pop (heap, &n_heap);
      guint32 left = (guint32) key, rank = (guint32) (key >> 32);
      guint32 right, after;

      if (pair[left] != rank)
        continue;
      /* Merged parts get pair NO_RANK, so a live left part is certain. */
      right = next[left];
      after = next[right];
      next[left] = after;
      if (after < len)
        prev[after] = left;
      pair[right] = NO_RANK;
      prev[right] = G_MAXUINT32;
      token[left] = rank;

      pair[left] = after < len ? lookup_rank (self, piece + left, next[after] - left) : NO_RANK;
      if (pair[left] != NO_RANK)
        heap_push (heap, &n_heap, (guint64) pair[left] << 32 | left);
      if (prev[left] != G_MAXUINT32)
        {
          guint32 before = prev[left];

          pair[before] = lookup_rank (self, piece + before, after - before);
          if (pair[before] != NO_RANK)
            heap_push (heap, &n_heap, (guint64) pair[before] << 32 | before);
        }
      /* Each merge pushes at most two entries and there are at most len
       * merges: 3 * len holds them all. */
    }
  for (guint32 p = 0; p < len; p = next[p])
    out_push (out, token[p]);
}

static inline void
encode_piece (SluiceTokenizer *self,
              const guint8    *piece,
              gsize            len,
              Out             *out)
{
  guint32 rank = lookup_rank (self, piece, len);

  if (rank != NO_RANK)
    out_push (out, rank);
  else if (len < merge_heap_min)
    merge_short (self, piece, len, out);
  else
    merge_long (self, piece, len, out);
}

/* ---- splitting -------------------------------------------------------------------- */

static void
match_data_free (gpointer data)
{
  pcre2_match_data_free (data);
}

static GPrivate thread_match_data = G_PRIVATE_INIT (match_data_free);

static pcre2_match_data *
get_match_data (void)
{
  pcre2_match_data *data = g_private_get (&thread_match_data);

  if (data == NULL)
    {
      data = pcre2_match_data_create (1, NULL);
      g_private_set (&thread_match_data, data);
    }
  return data;
}

/* Encodes @text[0..@len), which is valid UTF-8 and holds no special
 * token that is to be treated as one. */
static void
encode_ordinary (SluiceTokenizer *self,
                 const char      *text,
                 gsize            len,
                 Out             *out)
{
  pcre2_match_data *data = get_match_data ();
  PCRE2_SIZE *ovector = pcre2_get_ovector_pointer (data);
  gsize at = 0;

  while (at < len)
    {
      /* Searching on from the end of the last piece, as tiktoken's
       * find_iter does (every character starts some alternative, so the
       * next piece begins there). */
      int rc = self->jit
        ? pcre2_jit_match (self->code, (PCRE2_SPTR) text, len, at, 0, data, NULL)
        : pcre2_match (self->code, (PCRE2_SPTR) text, len, at, PCRE2_NO_UTF_CHECK, data, NULL);

      if (G_UNLIKELY (rc == PCRE2_ERROR_NOMATCH))
        break;   /* tiktoken drops text no alternative matches (none does) */
      if (G_UNLIKELY (rc < 0))
        {
          g_warning ("%s: pre-tokenizer failed at byte %" G_GSIZE_FORMAT " (PCRE2 error %d); "
                     "the rest is encoded as one piece", self->info->name, at, rc);
          encode_piece (self, (const guint8 *) text + at, len - at, out);
          break;
        }
      if (ovector[1] <= ovector[0])
        break;   /* no empty matches in these patterns; never loop */
      encode_piece (self, (const guint8 *) text + ovector[0], ovector[1] - ovector[0], out);
      at = ovector[1];
    }
}

/* The first special token at or after @from, as tiktoken's special
 * regex finds it (leftmost; the longest at one position). */
static const Special *
find_special (SluiceTokenizer *self,
              const char      *text,
              gsize            len,
              gsize            from,
              gsize           *found_at)
{
  const char *p = text + from, *end = text + len;

  while (p + 1 < end && (p = memchr (p, '<', end - p - 1)) != NULL)
    {
      if (p[1] == '|')
        {
          const Special *best = NULL;

          for (const Special *s = self->info->specials; s->text != NULL; s++)
            {
              gsize n = strlen (s->text);

              if ((gsize) (end - p) >= n && memcmp (p, s->text, n) == 0 &&
                  (best == NULL || n > strlen (best->text)))
                best = s;
            }
          if (best != NULL)
            {
              *found_at = p - text;
              return best;
            }
        }
      p++;
    }
  return NULL;
}

/* UTF-8 check that lets NUL through (g_utf8_validate stops at one). */
static gboolean
is_utf8 (const char *text,
         gsize       len)
{
  const char *p = text, *end = text + len;

  while (p < end)
    {
      const char *stop = NULL;
      const char *nul = memchr (p, '\0', end - p);
      gsize span = (nul != NULL ? nul : end) - p;

      if (!g_utf8_validate_len (p, span, &stop))
        return FALSE;
      p += span + (nul != NULL ? 1 : 0);
    }
  return TRUE;
}

static char *
make_utf8 (const char *text,
           gsize       len,
           gsize      *out_len)
{
  GString *fixed = g_string_sized_new (len + 16);
  const char *p = text, *end = text + len;

  while (p < end)
    {
      const char *nul = memchr (p, '\0', end - p);
      gsize span = (nul != NULL ? nul : end) - p;
      g_autofree char *valid = g_utf8_make_valid (p, span);

      g_string_append (fixed, valid);
      if (nul != NULL)
        g_string_append_len (fixed, "", 1);
      p += span + (nul != NULL ? 1 : 0);
    }
  *out_len = fixed->len;
  return g_string_free (fixed, FALSE);
}

static gboolean
encode (SluiceTokenizer     *self,
        const char          *text,
        gssize               length,
        SluiceSpecialTokens  special,
        Out                 *out,
        GError             **error)
{
  g_autofree char *fixed = NULL;
  gsize len, at = 0, found = 0;
  const Special *s;

  len = length < 0 ? strlen (text) : (gsize) length;
  if (!is_utf8 (text, len))
    text = fixed = make_utf8 (text, len, &len);

  if (special == SLUICE_SPECIAL_TOKENS_AS_TEXT)
    {
      encode_ordinary (self, text, len, out);
      return TRUE;
    }
  if (special == SLUICE_SPECIAL_TOKENS_DISALLOW)
    {
      if ((s = find_special (self, text, len, 0, &found)) != NULL)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                       "the text holds the special token %s of %s (at byte %" G_GSIZE_FORMAT "); "
                       "special tokens are refused unless allowed, or counted as plain text",
                       s->text, self->info->name, found);
          return FALSE;
        }
      encode_ordinary (self, text, len, out);
      return TRUE;
    }
  while ((s = find_special (self, text, len, at, &found)) != NULL)
    {
      encode_ordinary (self, text + at, found - at, out);
      out_push (out, s->rank);
      at = found + strlen (s->text);
    }
  encode_ordinary (self, text + at, len - at, out);
  return TRUE;
}

guint32 *
sluice_tokenizer_encode (SluiceTokenizer     *self,
                         const char          *text,
                         gssize               length,
                         SluiceSpecialTokens  special,
                         gsize               *n_tokens,
                         GError             **error)
{
  Out out = { .keep = TRUE };

  g_return_val_if_fail (SLUICE_IS_TOKENIZER (self), NULL);
  g_return_val_if_fail (text != NULL || length == 0, NULL);
  g_return_val_if_fail (n_tokens != NULL, NULL);

  *n_tokens = 0;
  if (!encode (self, text != NULL ? text : "", length, special, &out, error))
    {
      g_free (out.data);
      return NULL;
    }
  *n_tokens = out.len;
  return out.data != NULL ? out.data : g_new0 (guint32, 1);
}

gint64
sluice_tokenizer_count (SluiceTokenizer     *self,
                        const char          *text,
                        gssize               length,
                        SluiceSpecialTokens  special,
                        GError             **error)
{
  Out out = { .keep = FALSE };

  g_return_val_if_fail (SLUICE_IS_TOKENIZER (self), -1);
  g_return_val_if_fail (text != NULL || length == 0, -1);

  if (!encode (self, text != NULL ? text : "", length, special, &out, error))
    return -1;
  return out.len;
}

char *
sluice_tokenizer_decode (SluiceTokenizer *self,
                         const guint32   *tokens,
                         gsize            n_tokens,
                         gsize           *length)
{
  g_autoptr(GString) bytes = g_string_new (NULL);

  g_return_val_if_fail (SLUICE_IS_TOKENIZER (self), NULL);

  for (gsize i = 0; i < n_tokens; i++)
    {
      guint32 t = tokens[i];

      if (t < self->n_ranks)
        g_string_append_len (bytes, (const char *) self->arena + self->offsets[t],
                             self->offsets[t + 1] - self->offsets[t]);
      else
        {
          const Special *s = self->info->specials;

          while (s->text != NULL && s->rank != t)
            s++;
          if (s->text == NULL)
            return NULL;
          g_string_append (bytes, s->text);
        }
    }
  if (length != NULL)
    *length = bytes->len;
  return g_string_free (g_steal_pointer (&bytes), FALSE);
}

/* ---- chat messages ---------------------------------------------------------------- */

/* Text parts ({"type": "text", "text": ...}) count as their text; any
 * other value counts as its JSON text, and the count is then not exact. */
static gint64
count_value (SluiceTokenizer *self,
             JsonNode        *node,
             gboolean        *exact)
{
  gint64 tokens = 0;

  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return sluice_tokenizer_count (self, json_node_get_string (node), -1, SLUICE_SPECIAL_TOKENS_AS_TEXT, NULL);
  if (JSON_NODE_HOLDS_NULL (node))
    return 0;
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *parts = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (parts); i++)
        {
          JsonNode *part = json_array_get_element (parts, i);
          JsonObject *object = JSON_NODE_HOLDS_OBJECT (part) ? json_node_get_object (part) : NULL;
          const char *text = sluice_json_get_string (object, "text");

          if (text != NULL && g_strcmp0 (sluice_json_get_string (object, "type"), "text") == 0)
            tokens += sluice_tokenizer_count (self, text, -1, SLUICE_SPECIAL_TOKENS_AS_TEXT, NULL);
          else
            tokens += count_value (self, part, exact);
        }
      return tokens;
    }
  {
    g_autofree char *json = json_to_string (node, FALSE);

    *exact = FALSE;
    return sluice_tokenizer_count (self, json, -1, SLUICE_SPECIAL_TOKENS_AS_TEXT, NULL);
  }
}

gint64
sluice_tokenizer_count_messages (SluiceTokenizer *self,
                                 JsonArray       *messages,
                                 gboolean        *exact)
{
  gboolean all_exact = TRUE;
  gint64 tokens = 3;   /* every reply is primed with <|start|>assistant<|message|> */

  g_return_val_if_fail (SLUICE_IS_TOKENIZER (self), -1);

  for (guint i = 0; messages != NULL && i < json_array_get_length (messages); i++)
    {
      JsonNode *node = json_array_get_element (messages, i);
      JsonObjectIter iter;
      const char *member;
      JsonNode *value;

      tokens += 3;   /* <|start|>{role/name}\n{content}<|end|>\n */
      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          tokens += count_value (self, node, &all_exact);
          continue;
        }
      json_object_iter_init (&iter, json_node_get_object (node));
      while (json_object_iter_next (&iter, &member, &value))
        {
          tokens += count_value (self, value, &all_exact);
          if (g_str_equal (member, "name"))
            tokens += 1;
        }
    }
  if (exact != NULL)
    *exact = all_exact;
  return tokens;
}

gint64
sluice_count_prompt_tokens (JsonArray  *messages,
                            const char *provider,
                            const char *model,
                            gdouble     safety_factor,
                            gboolean   *estimated)
{
  SluiceTokenizer *tokenizer = sluice_tokenizer_get_for_model (provider, model);
  gboolean exact = FALSE;
  gint64 tokens;

  if (safety_factor <= 0)
    safety_factor = SLUICE_TOKEN_SAFETY_FACTOR;
  if (tokenizer != NULL)
    {
      tokens = sluice_tokenizer_count_messages (tokenizer, messages, &exact);
      if (!exact)
        tokens = (gint64) ceil (tokens * safety_factor);
    }
  else if ((tokenizer = sluice_tokenizer_get ("o200k_base", NULL)) != NULL)
    tokens = (gint64) ceil (sluice_tokenizer_count_messages (tokenizer, messages, NULL) * safety_factor);
  else
    tokens = (gint64) ceil (sluice_estimate_message_tokens (messages) * safety_factor);
  if (estimated != NULL)
    *estimated = !exact;
  return tokens;
}

void
_sluice_tokenizer_set_merge_heap_min (gsize bytes)
{
  merge_heap_min = bytes != 0 ? bytes : MERGE_HEAP_MIN;
}
