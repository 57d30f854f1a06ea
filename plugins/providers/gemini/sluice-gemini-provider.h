/* sluice-gemini-provider.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_GEMINI_PROVIDER (sluice_gemini_provider_get_type ())
G_DECLARE_FINAL_TYPE (SluiceGeminiProvider, sluice_gemini_provider, SLUICE, GEMINI_PROVIDER, SluiceHttpProvider)

G_END_DECLS
