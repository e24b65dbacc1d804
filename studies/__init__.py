"""The published studies' own code, installed as `optlab_studies`: a room of its own, not plugins.

A study is a config (`configs/`), the code here (its problem, the evaluation of each finished run, the
report section that draws its pictures), and one hook module in `optlab_plugins` that registers those
pieces. `optlab run CONFIG` trains and evaluates every run into the store; `optlab report DIR` adds the
study's section to the report. Nothing here is imported by optlab itself.
"""
