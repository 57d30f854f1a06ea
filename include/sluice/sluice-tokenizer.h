/* sluice-tokenizer.h — exact token counts for OpenAI models: tiktoken's
 * byte-pair encodings cl100k_base and o200k_base.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_TOKENIZER (sluice_tokenizer_get_type ())
G_DECLARE_FINAL_TYPE (SluiceTokenizer, sluice_tokenizer, SLUICE, TOKENIZER, GObject)

/**
 * SluiceSpecialTokens:
 * @SLUICE_SPECIAL_TOKENS_DISALLOW: text that spells a special token
 *   (`<|endoftext|>`, ...) is refused with %SLUICE_ERROR_INVALID_INPUT, as
 *   tiktoken's `encode()` does by default
 * @SLUICE_SPECIAL_TOKENS_ALLOW: such text becomes the special token
 *   (tiktoken's `allowed_special="all"`)
 * @SLUICE_SPECIAL_TOKENS_AS_TEXT: such text is encoded as ordinary text
 *   (tiktoken's `encode_ordinary()`); this is how chat APIs treat message
 *   content
 *
 * What to do with special-token text in the input.
 */
typedef enum {
  SLUICE_SPECIAL_TOKENS_DISALLOW,
  SLUICE_SPECIAL_TOKENS_ALLOW,
  SLUICE_SPECIAL_TOKENS_AS_TEXT,
} SluiceSpecialTokens;

/**
 * sluice_tokenizer_get:
 * @encoding: `cl100k_base` or `o200k_base`
 * @error: return location for a #GError
 *
 * The shared tokenizer of @encoding. Its rank file (`data/ENCODING.tiktoken`)
 * is loaded on first use, once, whichever thread asks first; a tokenizer is
 * safe to use from any number of threads.
 *
 * Returns: (transfer none) (nullable): the tokenizer, or %NULL if
 *   @encoding is unknown or its rank file cannot be read
 */
SluiceTokenizer *sluice_tokenizer_get            (const char          *encoding,
                                                  GError             **error);

/**
 * sluice_tokenizer_get_for_model:
 * @provider: (nullable): the provider name, to find the model in the catalog
 * @model: (nullable): the model name
 *
 * The tokenizer of @model when it is known to use one sluice has (the
 * catalog's `tokenizer` member of the model, else the catalog's
 * `tokenizers` prefix table, see sluice_catalog_get_tokenizer()).
 *
 * Returns: (transfer none) (nullable): the tokenizer, or %NULL
 */
SluiceTokenizer *sluice_tokenizer_get_for_model  (const char          *provider,
                                                  const char          *model);

/**
 * sluice_tokenizer_get_name:
 * Returns: (transfer none): the encoding's name, e.g. `o200k_base`
 */
const char      *sluice_tokenizer_get_name       (SluiceTokenizer     *self);

/**
 * sluice_tokenizer_get_n_vocab:
 * Returns: the number of token ids, special tokens included
 */
guint            sluice_tokenizer_get_n_vocab    (SluiceTokenizer     *self);

/**
 * sluice_tokenizer_encode:
 * @self: a #SluiceTokenizer
 * @text: (array length=length) (element-type guint8): UTF-8 text; embedded
 *   NULs are text too
 * @length: bytes of @text, or -1 if NUL-terminated
 * @special: what to do with special-token text
 * @n_tokens: (out): the number of tokens
 * @error: return location for a #GError
 *
 * Encodes @text exactly as tiktoken does. Bytes that are not UTF-8 are
 * first replaced by U+FFFD, as Python's `errors="replace"` would.
 *
 * Returns: (transfer full) (array length=n_tokens) (nullable): the token
 *   ids, or %NULL when @special refuses the text
 */
guint32         *sluice_tokenizer_encode         (SluiceTokenizer     *self,
                                                  const char          *text,
                                                  gssize               length,
                                                  SluiceSpecialTokens  special,
                                                  gsize               *n_tokens,
                                                  GError             **error);

/**
 * sluice_tokenizer_count:
 * @self: a #SluiceTokenizer
 * @text: (array length=length) (element-type guint8): UTF-8 text
 * @length: bytes of @text, or -1 if NUL-terminated
 * @special: what to do with special-token text
 * @error: return location for a #GError
 *
 * The number of tokens sluice_tokenizer_encode() would give, without
 * keeping them.
 *
 * Returns: the count, or -1 when @special refuses the text
 */
gint64           sluice_tokenizer_count          (SluiceTokenizer     *self,
                                                  const char          *text,
                                                  gssize               length,
                                                  SluiceSpecialTokens  special,
                                                  GError             **error);

/**
 * sluice_tokenizer_decode:
 * @self: a #SluiceTokenizer
 * @tokens: (array length=n_tokens): token ids
 * @n_tokens: how many
 * @length: (out) (optional): bytes of the result
 *
 * Returns: (transfer full) (nullable): the bytes the tokens stand for
 *   (NUL-terminated; not necessarily UTF-8 when cut inside a character),
 *   or %NULL if an id is out of range
 */
char            *sluice_tokenizer_decode         (SluiceTokenizer     *self,
                                                  const guint32       *tokens,
                                                  gsize                n_tokens,
                                                  gsize               *length);

/**
 * sluice_tokenizer_count_messages:
 * @self: a #SluiceTokenizer
 * @messages: (nullable): chat messages (objects with `role`, `content`,
 *   optionally `name`)
 * @exact: (out) (optional): %TRUE when every member could be counted as
 *   the chat API counts it; %FALSE when a member that is not a string
 *   (image parts, tool calls) was counted from its JSON text
 *
 * The prompt tokens of @messages as OpenAI's chat models count them:
 * 3 per message, the tokens of each string member (`role`, `content`,
 * `name`, ...), 1 more for a `name`, and 3 for priming the reply. Special
 * token text in the content counts as ordinary text.
 *
 * Returns: the count
 */
gint64           sluice_tokenizer_count_messages (SluiceTokenizer     *self,
                                                  JsonArray           *messages,
                                                  gboolean            *exact);

/**
 * SLUICE_TOKEN_SAFETY_FACTOR:
 *
 * The default factor on an o200k_base count that stands in for a model
 * whose tokenizer sluice does not have (Anthropic, Gemini, local models).
 */
#define SLUICE_TOKEN_SAFETY_FACTOR 1.1

/**
 * sluice_count_prompt_tokens:
 * @messages: (nullable): chat messages
 * @provider: (nullable): the provider of the target
 * @model: (nullable): the model of the target
 * @safety_factor: the factor on the stand-in count for models without a
 *   local tokenizer (<= 0: %SLUICE_TOKEN_SAFETY_FACTOR)
 * @estimated: (out) (optional): %FALSE when the count is exact
 *
 * The prompt tokens of @messages for @model. Exact for a model with a
 * local tokenizer (see sluice_tokenizer_get_for_model()); for any other
 * model an estimate: the o200k_base count of the messages, framing
 * included, times @safety_factor, rounded up (sluice_estimate_message_tokens()
 * times @safety_factor if even o200k_base cannot be loaded).
 *
 * Returns: the count
 */
gint64           sluice_count_prompt_tokens      (JsonArray           *messages,
                                                  const char          *provider,
                                                  const char          *model,
                                                  gdouble              safety_factor,
                                                  gboolean            *estimated);

G_END_DECLS
