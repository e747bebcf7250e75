"""The questions a study asks of a target: compare, find (the range test), tune (+ its space), cooldowns, forecast, pbt.

A study builds plans and hands them to an engine (lrlab.lab.engines); it never trains by itself."""
