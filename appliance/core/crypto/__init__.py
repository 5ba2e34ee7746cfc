"""Field encryption of personal data: sealed values with a versioned header (AES-256-GCM, or SM4-GCM for
national-crypto deployments), keys in the key ring (`appliance.core.keyring`), blind indexes for exact
lookups, and the registry of the columns that hold sealed values (`registry`). See docs/architecture.md,
"Field encryption", and docs/keys.md."""

from appliance.core.crypto.cipher import SealError, is_sealed, parse_header
from appliance.core.crypto.fields import blind_index, configure_field_encryption, field_crypto, open_json, seal_json

__all__ = [
    "SealError", "blind_index", "configure_field_encryption", "field_crypto", "is_sealed", "open_json", "parse_header",
    "seal_json",
]
