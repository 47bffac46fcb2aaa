"""The hostile suite: every input that once broke a guard, run through every edge (issue 18)."""
