"""`python -m hf_msa_cli`: the same as `hf-msa`."""

import sys

from . import main

main(sys.argv[1:])
