/* sluice-openai-compatible-provider.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_OPENAI_COMPATIBLE_PROVIDER (sluice_openai_compatible_provider_get_type ())
G_DECLARE_FINAL_TYPE (SluiceOpenaiCompatibleProvider, sluice_openai_compatible_provider,
                      SLUICE, OPENAI_COMPATIBLE_PROVIDER, SluiceHttpProvider)

G_END_DECLS
