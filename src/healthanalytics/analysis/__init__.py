"""The launch analysis: the drug market a launch competes in, and the analyses over it."""
