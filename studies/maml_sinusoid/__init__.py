"""The MAML sinusoid study (Finn, Abbeel and Levine, ICML 2017, section 5.1).

`tasks`: the task distribution, the regressor and the problem `maml_sinusoid`; `evaluation`: each trained
network fine-tuned on held-out tasks; `report`: the study's section of `optlab report`. Registered by the
hook module `optlab_plugins.maml_sinusoid`; configured by `configs/maml_sinusoid.yaml`.
"""
