Feature: Forgetting a user

  Scenario: A user who asks to be forgotten leaves nothing behind, and nobody else changes
    Given Alice generated a cover letter for "Airbus"
    And Bob uploaded her CV
    And the flywheel processes the queue
    And Alice uploaded her CV
    When Alice asks to be forgotten
    Then nothing about Alice remains
    And Bob's journey holds 1 event
    And the ecosystem counts 1 user and 1 event

  Scenario: Forgetting twice, or someone never seen, removes nothing and is no error
    Given Alice generated a cover letter for "Airbus"
    And the flywheel processes the queue
    When Alice asks to be forgotten
    And Alice asks to be forgotten again
    Then nothing was removed the second time
    And forgetting Zoe, never seen, removes nothing

  Scenario: A forgotten user who comes back starts afresh
    Given Alice generated a cover letter for "Airbus"
    And the flywheel processes the queue
    When Alice asks to be forgotten
    And Alice uploads her CV
    And the flywheel processes the queue
    Then Alice's journey holds 1 event
    And Phoenix CV shows Alice the nudge "cv_to_letters" in the wording of her variant
    And Phoenix Letters shows Alice no nudge
