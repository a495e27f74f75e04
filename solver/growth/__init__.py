"""The moving Li surface: kinematics, mesh motion, mesh quality and morphology (issue 11)."""
