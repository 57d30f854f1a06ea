/* sluice-catalog.h — model prices and limits from data/models.json.
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

#define SLUICE_TYPE_CATALOG (sluice_catalog_get_type ())
G_DECLARE_FINAL_TYPE (SluiceCatalog, sluice_catalog, SLUICE, CATALOG, GObject)

/**
 * sluice_catalog_get_default:
 *
 * The catalog shipped with sluice (`$SLUICE_CATALOG` names another file
 * that replaces it whole), with the file `$SLUICE_CATALOG_OVERRIDE` names
 * merged over it (see sluice_catalog_new_from_files()). A catalog that
 * cannot be read is logged once, naming the file at fault, and treated as
 * empty, so every cost is then recorded as unknown, never as zero.
 *
 * Returns: (transfer none): the default catalog
 */
SluiceCatalog *sluice_catalog_get_default      (void);
/**
 * sluice_catalog_new_from_file:
 * @path: a catalog file
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the catalog
 */
SluiceCatalog *sluice_catalog_new_from_file    (const char    *path,
                                                GError       **error);
/**
 * sluice_catalog_new_from_files:
 * @path: a catalog file
 * @override_path: (nullable): a file merged over it
 *
 * The override has the catalog's shape, with only what differs:
 * `{"providers": {"openai": {"gpt-4o": {"input_per_mtok": 2.0}}}}` changes
 * one price and keeps the rest. Objects merge member by member (provider,
 * model, field); any other value replaces; `null` removes the member (a
 * removed price makes that model's cost unknown). Prices must be numbers
 * >= 0 and limits whole numbers > 0; an error names the file and the
 * member.
 *
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the catalog
 */
SluiceCatalog *sluice_catalog_new_from_files   (const char    *path,
                                                const char    *override_path,
                                                GError       **error);
/**
 * sluice_catalog_lookup:
 * @self: a #SluiceCatalog
 * @provider: `openai`, `anthropic`, ...
 * @model: a model name; a dated snapshot (`gpt-4o-2024-08-06`) falls back
 *   to its base name
 *
 * Returns: (transfer none) (nullable): the model's entry
 *   (`input_per_mtok`, `output_per_mtok`, `cached_input_per_mtok`,
 *   `cache_write_per_mtok`, `context_window`, `max_output`, `tokenizer`,
 *   `checked`)
 */
JsonObject    *sluice_catalog_lookup           (SluiceCatalog *self,
                                                const char    *provider,
                                                const char    *model);
/**
 * sluice_catalog_compute_cost:
 * @self: a #SluiceCatalog
 * @provider: the provider
 * @model: the model
 * @prompt_tokens: input tokens (including @cached_tokens)
 * @completion_tokens: output tokens
 * @cached_tokens: input tokens read from the provider's prompt cache
 *
 * sluice_catalog_compute_cost_full() with no cache writes.
 *
 * Returns: the cost in USD, or -1 when the model or its price is unknown
 */
gdouble        sluice_catalog_compute_cost     (SluiceCatalog *self,
                                                const char    *provider,
                                                const char    *model,
                                                gint64         prompt_tokens,
                                                gint64         completion_tokens,
                                                gint64         cached_tokens);
/**
 * sluice_catalog_compute_cost_full:
 * @self: a #SluiceCatalog
 * @provider: the provider
 * @model: the model
 * @prompt_tokens: all input tokens, as sluice counts them for every
 *   provider: including @cached_tokens and @cache_write_tokens (OpenAI's
 *   prompt_tokens; Anthropic's input_tokens + cache reads + cache writes)
 * @completion_tokens: output tokens, reasoning (thinking) tokens included
 * @cached_tokens: input tokens read from the provider's prompt cache,
 *   billed at `cached_input_per_mtok`
 * @cache_write_tokens: input tokens written to the prompt cache
 *   (Anthropic), billed at `cache_write_per_mtok`
 *
 * The rest of the input is billed at `input_per_mtok`, the output at
 * `output_per_mtok`. A kind of token the usage has none of needs no price;
 * one it has whose price is missing makes the cost unknown.
 *
 * Returns: the cost in USD, or -1 when the model or a price it needs is
 *   unknown
 */
gdouble        sluice_catalog_compute_cost_full (SluiceCatalog *self,
                                                 const char    *provider,
                                                 const char    *model,
                                                 gint64         prompt_tokens,
                                                 gint64         completion_tokens,
                                                 gint64         cached_tokens,
                                                 gint64         cache_write_tokens);

/**
 * sluice_catalog_get_tokenizer:
 * @self: a #SluiceCatalog
 * @provider: (nullable): the provider
 * @model: (nullable): the model
 *
 * The byte-pair encoding @model uses: the `tokenizer` member of its
 * catalog entry, else the longest prefix that names it in the catalog's
 * top-level `tokenizers` table (`{"o200k_base": ["gpt-4o", ...]}`; a
 * prefix matches the whole name or the name up to a `-`). A fine-tuned
 * name (`ft:gpt-4o-mini:...`) and a router's name (`openai/gpt-4o`) count
 * as the base model.
 *
 * Returns: (transfer none) (nullable): the encoding's name, or %NULL
 */
const char    *sluice_catalog_get_tokenizer    (SluiceCatalog *self,
                                                const char    *provider,
                                                const char    *model);

G_END_DECLS
