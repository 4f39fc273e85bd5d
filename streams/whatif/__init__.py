"""What-if: a history of input events under the current and a proposed policy, compared."""
