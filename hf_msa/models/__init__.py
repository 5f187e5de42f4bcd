"""One folder per method; each imports only hf_msa's base pieces and hf_msa.modules."""
