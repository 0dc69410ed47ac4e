"""The attacks on one model at one level, as a typed `Attacks` value (the caller writes it)."""

from __future__ import annotations

from pathlib import Path

from medforget_data import progress
from medforget_data.attacks.collect import membership_scores
from medforget_data.attacks.forget_quality import ks_forget_quality, score_distance
from medforget_data.attacks.mia import MIA_ATTACKS, privleak, roc_auc
from medforget_data.attacks.reconstruction import DEPTHS, HierarchyFacts, attack_question
from medforget_data.dataset.built import BuiltDataset
from medforget_data.errors import MedForgetError
from medforget_data.models.build import ModelRecord
from medforget_data.models.generate import generate_answers
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.results import Attacks, ForgetQuality, Membership, Reconstruction, Results
from medforget_data.scoring.score import score_item


def check_matching(dataset: BuiltDataset, level: str, results: Results, model_hash: str, name: str) -> None:
    """`results` (called `name` in errors) and the model belong to this dataset and level."""
    if results.dataset_hash != dataset.dataset_hash:
        raise MedForgetError(
            f"{name} was scored on another dataset ({results.dataset_hash[:12]}… ≠ "
            f"{dataset.dataset_hash[:12]}…)"
        )
    if results.level != level:
        raise MedForgetError(f"{name} is for level {results.level!r}, not {level!r}")
    if model_hash != dataset.dataset_hash:
        raise MedForgetError(f"the model was trained on another dataset than {dataset.folder}")


def membership_section(model, processor, dataset: BuiltDataset, level: str) -> Membership:
    forget = dataset.examples(level, "forget")
    holdout = dataset.examples(level, "holdout")
    members, non_members = (
        membership_scores(model, processor, forget),
        membership_scores(model, processor, holdout),
    )
    auc = {
        attack: roc_auc([s[attack] for s in members.values()], [s[attack] for s in non_members.values()])
        for attack in MIA_ATTACKS
    }
    return Membership(auc=auc, forget_loss={k: v["loss"] for k, v in members.items()})


def reconstruction_section(
    model, processor, dataset: BuiltDataset, level: str, max_new_tokens: int | None = None
) -> Reconstruction:
    facts = HierarchyFacts(dataset.hierarchy())
    forget = dataset.examples(level, "forget")
    judge = OfflineJudge()
    recovery = {}
    for depth in DEPTHS:
        questions = [attack_question(e.item, depth, facts) for e in forget]
        with progress.quiet():  # four short generations; the caller's bar says where the run is
            answers = generate_answers(
                model, processor, forget, questions=questions, max_new_tokens=max_new_tokens
            )
        scores = [score_item(e.item, "forget", answers[e.item.id], judge).score for e in forget]
        present = [s for s in scores if s is not None]
        recovery[depth] = sum(present) / len(present) if present else float("nan")
    return Reconstruction(depths=list(DEPTHS), recovery=recovery)


def forget_quality_section(membership: Membership, results: Results, oracle: Results) -> ForgetQuality:
    """The model's membership statistics and forget scores against the oracle's."""
    if oracle.attacks is None:
        raise MedForgetError("the oracle's results have no attacks: attack the oracle first")
    theirs = oracle.attacks.membership
    return ForgetQuality(
        privleak={a: privleak(membership.auc[a], theirs.auc[a]) for a in MIA_ATTACKS},
        ks_p_value=ks_forget_quality(
            list(membership.forget_loss.values()), list(theirs.forget_loss.values())
        ),
        score_distance=score_distance(
            {i.id: i.score for i in results.items if i.split == "forget"},
            {i.id: i.score for i in oracle.items if i.split == "forget"},
        ),
    )


def attack(
    model,
    processor,
    record: ModelRecord,
    dataset: BuiltDataset | Path,
    level: str,
    results: Results,
    oracle: Results | None = None,
) -> Attacks:
    """Membership inference, reconstruction and (given the oracle's attacked results) forget quality.

    `results` are the model's scores at `level`: forget quality compares its forget scores to the oracle's.
    """
    dataset = BuiltDataset.of(dataset)
    check_matching(dataset, level, results, record.dataset_hash, "the results")
    unlearned_at = record.recipe.unlearn.level if record.recipe.unlearn else None
    if unlearned_at not in (None, level):
        raise MedForgetError(f"the model was unlearned at level {unlearned_at!r}, not {level!r}")
    if oracle is not None:
        check_matching(dataset, level, oracle, record.dataset_hash, "the oracle's results")
    membership = membership_section(model, processor, dataset, level)
    reconstruction = reconstruction_section(model, processor, dataset, level)
    return Attacks(
        membership=membership,
        reconstruction=reconstruction,
        forget_quality=None if oracle is None else forget_quality_section(membership, results, oracle),
    )
