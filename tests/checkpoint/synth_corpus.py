"""A small deterministic English-like corpus for the checkpoint tests, so they need no
generated data (data/ is built by scripts/setup.sh) and always see the same text."""
import random

_WORDS = ("the a an and or but of to in on at by with from for as is was are be been has have had "
          "it this that these those he she they we you i my your his her their our its not no yes "
          "time year day night way man woman child world life hand part place case week company "
          "system program question work government number point home water room mother area money "
          "story fact month lot right study book eye job word business issue side kind head house "
          "service friend father power hour game line end member law car city community name "
          "president team minute idea kid body information back parent face others level office "
          "door health person art war history party result change morning reason research girl "
          "guy moment air teacher force education foot boy age policy process music market sense "
          "good new first last long great little own other old big high different small large next "
          "early young important few public bad same able say get make go know take see come think "
          "look want give use find tell ask seem feel try leave call keep let begin help show hear "
          "play run move live believe hold bring happen write provide sit stand lose pay meet").split()


def write(path, n_paragraphs, seed):
    rng = random.Random(seed)
    # Zipf-like weights: frequent function words, a long tail
    weights = [1.0 / (i + 1) for i in range(len(_WORDS))]
    paras = []
    for _ in range(n_paragraphs):
        sents = []
        for _ in range(rng.randint(1, 3)):
            words = rng.choices(_WORDS, weights, k=rng.randint(4, 14))
            sents.append(" ".join(words).capitalize() + rng.choice([".", ".", ".", "!", "?"]))
        paras.append(" ".join(sents))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\n".join(paras) + "\n")
    return path
