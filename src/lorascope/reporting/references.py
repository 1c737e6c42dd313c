"""The works a report cites: methods, measures and statistical tests."""

from __future__ import annotations

from lorascope.reporting.document import Reference

REFERENCES = {
    "hu2022lora": Reference(
        "hu2022lora",
        "Hu, E. J. et al. LoRA: Low-Rank Adaptation of Large Language Models. ICLR 2022.",
        "@inproceedings{hu2022lora, title={{LoRA}: Low-Rank Adaptation of Large Language Models}, "
        "author={Hu, Edward J. and Shen, Yelong and Wallis, Phillip and Allen-Zhu, Zeyuan and Li, Yuanzhi and "
        "Wang, Shean and Wang, Lu and Chen, Weizhu}, booktitle={International Conference on Learning "
        "Representations}, year={2022}}",
    ),
    "zhang2023adalora": Reference(
        "zhang2023adalora",
        "Zhang, Q. et al. Adaptive Budget Allocation for Parameter-Efficient Fine-Tuning. ICLR 2023.",
        "@inproceedings{zhang2023adalora, title={Adaptive Budget Allocation for Parameter-Efficient "
        "Fine-Tuning}, author={Zhang, Qingru and Chen, Minshuo and Bukharin, Alexander and He, Pengcheng and "
        "Cheng, Yu and Chen, Weizhu and Zhao, Tuo}, booktitle={International Conference on Learning "
        "Representations}, year={2023}}",
    ),
    "kornblith2019cka": Reference(
        "kornblith2019cka",
        "Kornblith, S. et al. Similarity of Neural Network Representations Revisited. ICML 2019.",
        "@inproceedings{kornblith2019cka, title={Similarity of Neural Network Representations Revisited}, "
        "author={Kornblith, Simon and Norouzi, Mohammad and Lee, Honglak and Hinton, Geoffrey}, "
        "booktitle={International Conference on Machine Learning}, year={2019}}",
    ),
    "shuttleworth2024intruders": Reference(
        "shuttleworth2024intruders",
        "Shuttleworth, R. et al. LoRA vs Full Fine-tuning: An Illusion of Equivalence. arXiv:2410.21228, 2024.",
        "@article{shuttleworth2024intruders, title={{LoRA} vs Full Fine-tuning: An Illusion of Equivalence}, "
        "author={Shuttleworth, Reece and Andreas, Jacob and Torralba, Antonio and Sharma, Pratyusha}, "
        "journal={arXiv preprint arXiv:2410.21228}, year={2024}}",
    ),
    "schuirmann1987tost": Reference(
        "schuirmann1987tost",
        "Schuirmann, D. J. A comparison of the two one-sided tests procedure and the power approach for "
        "assessing the equivalence of average bioavailability. J. Pharmacokinet. Biopharm. 15(6), 1987.",
        "@article{schuirmann1987tost, title={A comparison of the two one-sided tests procedure and the power "
        "approach for assessing the equivalence of average bioavailability}, author={Schuirmann, Donald J.}, "
        "journal={Journal of Pharmacokinetics and Biopharmaceutics}, volume={15}, number={6}, pages={657--680}, "
        "year={1987}}",
    ),
    "fieller1954": Reference(
        "fieller1954",
        "Fieller, E. C. Some problems in interval estimation. J. R. Stat. Soc. B 16(2), 1954.",
        "@article{fieller1954, title={Some problems in interval estimation}, author={Fieller, Edgar C.}, "
        "journal={Journal of the Royal Statistical Society: Series B}, volume={16}, number={2}, "
        "pages={175--185}, year={1954}}",
    ),
    "holm1979": Reference(
        "holm1979",
        "Holm, S. A simple sequentially rejective multiple test procedure. Scand. J. Stat. 6(2), 1979.",
        "@article{holm1979, title={A simple sequentially rejective multiple test procedure}, author={Holm, "
        "Sture}, journal={Scandinavian Journal of Statistics}, volume={6}, number={2}, pages={65--70}, year={1979}}",
    ),
    "benjamini1995": Reference(
        "benjamini1995",
        "Benjamini, Y. and Hochberg, Y. Controlling the false discovery rate. J. R. Stat. Soc. B 57(1), 1995.",
        "@article{benjamini1995, title={Controlling the false discovery rate: a practical and powerful "
        "approach to multiple testing}, author={Benjamini, Yoav and Hochberg, Yosef}, journal={Journal of the "
        "Royal Statistical Society: Series B}, volume={57}, number={1}, pages={289--300}, year={1995}}",
    ),
    "berger1982iut": Reference(
        "berger1982iut",
        "Berger, R. L. Multiparameter hypothesis testing and acceptance sampling. Technometrics 24(4), 1982.",
        "@article{berger1982iut, title={Multiparameter hypothesis testing and acceptance sampling}, "
        "author={Berger, Roger L.}, journal={Technometrics}, volume={24}, number={4}, pages={295--300}, year={1982}}",
    ),
    "welch1951": Reference(
        "welch1951",
        "Welch, B. L. On the comparison of several mean values: an alternative approach. Biometrika 38, 1951.",
        "@article{welch1951, title={On the comparison of several mean values: an alternative approach}, "
        "author={Welch, B. L.}, journal={Biometrika}, volume={38}, number={3/4}, pages={330--336}, year={1951}}",
    ),
    "welch1947": Reference(
        "welch1947",
        "Welch, B. L. The generalization of 'Student's' problem when several different population variances "
        "are involved. Biometrika 34, 1947.",
        "@article{welch1947, title={The generalization of `{S}tudent's' problem when several different population "
        "variances are involved}, author={Welch, B. L.}, journal={Biometrika}, volume={34}, number={1/2}, "
        "pages={28--35}, year={1947}}",
    ),
    "hsu1938": Reference(
        "hsu1938",
        "Hsu, P. L. Contribution to the theory of 'Student's' t-test as applied to the problem of two samples. "
        "Statistical Research Memoirs 2, 1938.",
        "@article{hsu1938, title={Contribution to the theory of `{S}tudent's' t-test as applied to the problem of "
        "two samples}, author={Hsu, P. L.}, journal={Statistical Research Memoirs}, volume={2}, pages={1--24}, "
        "year={1938}}",
    ),
    "simes1986": Reference(
        "simes1986",
        "Simes, R. J. An improved Bonferroni procedure for multiple tests of significance. Biometrika 73, 1986.",
        "@article{simes1986, title={An improved {B}onferroni procedure for multiple tests of significance}, "
        "author={Simes, R. J.}, journal={Biometrika}, volume={73}, number={3}, pages={751--754}, year={1986}}",
    ),
    "efron1987bca": Reference(
        "efron1987bca",
        "Efron, B. Better bootstrap confidence intervals. J. Am. Stat. Assoc. 82(397), 1987.",
        "@article{efron1987bca, title={Better bootstrap confidence intervals}, author={Efron, Bradley}, "
        "journal={Journal of the American Statistical Association}, volume={82}, number={397}, "
        "pages={171--185}, year={1987}}",
    ),
    "agarwal2021precipice": Reference(
        "agarwal2021precipice",
        "Agarwal, R. et al. Deep Reinforcement Learning at the Edge of the Statistical Precipice. NeurIPS 2021.",
        "@inproceedings{agarwal2021precipice, title={Deep Reinforcement Learning at the Edge of the "
        "Statistical Precipice}, author={Agarwal, Rishabh and Schwarzer, Max and Castro, Pablo Samuel and "
        "Courville, Aaron and Bellemare, Marc G.}, booktitle={Advances in Neural Information Processing "
        "Systems}, year={2021}}",
    ),
    "good2005permutation": Reference(
        "good2005permutation",
        "Good, P. Permutation, Parametric, and Bootstrap Tests of Hypotheses. Springer, 3rd ed., 2005.",
        "@book{good2005permutation, title={Permutation, Parametric, and Bootstrap Tests of Hypotheses}, "
        "author={Good, Phillip}, publisher={Springer}, edition={3}, year={2005}}",
    ),
    "akiba2019optuna": Reference(
        "akiba2019optuna",
        "Akiba, T. et al. Optuna: A Next-generation Hyperparameter Optimization Framework. KDD 2019.",
        "@inproceedings{akiba2019optuna, title={Optuna: A Next-generation Hyperparameter Optimization Framework}, "
        "author={Akiba, Takuya and Sano, Shotaro and Yanase, Toshihiko and Ohta, Takeru and Koyama, Masanori}, "
        "booktitle={Proceedings of the 25th ACM SIGKDD International Conference on Knowledge Discovery and Data "
        "Mining}, year={2019}}",
    ),
    "bergstra2011tpe": Reference(
        "bergstra2011tpe",
        "Bergstra, J. et al. Algorithms for Hyper-Parameter Optimization. NeurIPS 2011.",
        "@inproceedings{bergstra2011tpe, title={Algorithms for Hyper-Parameter Optimization}, author={Bergstra, "
        "James and Bardenet, R{\\'e}mi and Bengio, Yoshua and K{\\'e}gl, Bal{\\'a}zs}, booktitle={Advances in Neural "
        "Information Processing Systems}, year={2011}}",
    ),
    "watanabe2023pedanova": Reference(
        "watanabe2023pedanova",
        "Watanabe, S. et al. PED-ANOVA: Efficiently Quantifying Hyperparameter Importance in Arbitrary Subspaces. "
        "IJCAI 2023.",
        "@inproceedings{watanabe2023pedanova, title={{PED-ANOVA}: Efficiently Quantifying Hyperparameter Importance "
        "in Arbitrary Subspaces}, author={Watanabe, Shuhei and Bansal, Archit and Hutter, Frank}, "
        "booktitle={Proceedings of the Thirty-Second International Joint Conference on Artificial Intelligence}, "
        "year={2023}}",
    ),
}


def cited(*keys: str) -> list[Reference]:
    return [REFERENCES[k] for k in keys]
